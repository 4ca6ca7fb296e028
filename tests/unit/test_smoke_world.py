from api.clients import service as clients
from api.pagination import PageRequest
from tests.factories.accounts import actor
from tests.factories.world import make_world


async def test_student_sees_client_of_published_assignment(db, settings):
    world = await make_world(db, settings)
    page = await clients.list_profiles(db, actor(world.student), PageRequest(first=50))
    assert world.profile.id in [p.id for p in page.items]
