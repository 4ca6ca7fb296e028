from api.errors import PracticumError


class TeachingError(PracticumError):
    pass
