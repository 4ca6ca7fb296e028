from api.errors import PracticumError


class AccountError(PracticumError):
    pass
