from api.errors import PracticumError


class AuditError(PracticumError):
    pass
