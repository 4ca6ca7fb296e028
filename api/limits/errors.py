from api.errors import PracticumError


class LimitsError(PracticumError):
    """Rate limits as admins set them."""
