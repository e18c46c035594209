import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The models trained here are tiny: one thread is much faster than two, and the
    suite runs in two worker processes."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
