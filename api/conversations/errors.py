from api.errors import PracticumError


class ConversationError(PracticumError):
    pass
