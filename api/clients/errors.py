from api.errors import PracticumError


class ClientProfileError(PracticumError):
    pass
