from api.errors import PracticumError


class ApiKeyError(PracticumError):
    pass
