"""Every page's address, in one place."""

HOME = "/"
LOGIN = "/login"
SIGN_UP = "/signup"  # a student makes an account with a join code (?code=...)
SET_PASSWORD = "/set-password"  # an invite or reset link's page (?token=...)
ACCOUNT = "/account"  # change password, sign out everywhere (every role)

# Students
PRACTICE = "/practice"  # the clients a student may practise with
SESSION = "/practice/[session_id]"  # the chat (students, and teachers testing a profile)
HISTORY = "/history"  # a student's past sessions
TRANSCRIPT = "/transcripts/[session_id]"  # one session's full transcript, for every role

# Teachers
PROFILES = "/profiles"
PROFILE_EDITOR = "/profiles/[profile_id]"  # "new" for a new profile
SECTIONS = "/sections"
ASSIGNMENTS = "/assignments"
TEACHER_SESSIONS = "/sessions"
TEACHER_INSIGHT = "/insight"
RUBRICS = "/rubrics"
RUBRIC_EDITOR = "/rubrics/[rubric_id]"  # "new" for a new rubric
PROGRESS = "/progress"  # a student's progress per criterion

# Admins
ADMIN_DASHBOARD = "/admin"
ADMIN_ERRORS = "/admin/errors"
ADMIN_BUDGETS = "/admin/budgets"
ADMIN_USERS = "/admin/users"
ADMIN_API_KEYS = "/admin/api-keys"
ADMIN_AUDIT = "/admin/audit"


def session(session_id: str) -> str:
    return f"/practice/{session_id}"


def transcript(session_id: str) -> str:
    return f"/transcripts/{session_id}"


def rubric_editor(rubric_id: str) -> str:
    return f"/rubrics/{rubric_id}"


def profile_editor(profile_id: str) -> str:
    return f"/profiles/{profile_id}"


HOME_BY_ROLE = {"STUDENT": PRACTICE, "TEACHER": PROFILES, "ADMIN": ADMIN_DASHBOARD}
