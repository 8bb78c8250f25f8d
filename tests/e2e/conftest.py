import pytest

from harness import KUBECTL_VERSIONS, Server


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture(params=KUBECTL_VERSIONS)
def version(request):
    return request.param
