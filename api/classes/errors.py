from api.errors import PracticumError


class ClassesError(PracticumError):
    pass
