import pytest

from api.accounts.models import Role
from api.clients import service
from api.errors import ErrorCode, PracticumError
from api.pagination import PageRequest
from tests.factories.accounts import actor, make_user
from tests.factories.clients import make_profile


async def test_pages_walk_every_item_once_even_when_names_repeat(db, settings):
    teacher = await make_user(db, Role.TEACHER)
    made = {
        (await make_profile(db, settings, teacher, name=f"Client {n % 3}")).id for n in range(7)
    }
    seen, after = [], None
    while True:
        page = await service.list_profiles(db, actor(teacher), PageRequest(first=3, after=after))
        seen += [p.id for p in page.items]
        if not page.has_next_page:
            break
        after = page.cursors[-1]
    assert len(seen) == len(set(seen)) == 7 and set(seen) == made


@pytest.mark.parametrize("cursor", ["garbage", "WyJhIl0=", "W10="])
async def test_a_bad_cursor_is_bad_input(db, settings, cursor):
    teacher = await make_user(db, Role.TEACHER)
    with pytest.raises(PracticumError) as refused:
        await service.list_profiles(db, actor(teacher), PageRequest(first=3, after=cursor))
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize("first", [-1, 101])
def test_page_size_is_bounded(settings, first):
    with pytest.raises(PracticumError) as refused:
        PageRequest.of(settings, first, None)
    assert refused.value.details["fields"][0]["field"] == "first"
