# min_gru.py: a recurrent cell written in PyTorch, registered as an rnnbench plugin
import torch
from rnnbench import hookimpl
from rnnbench.api import torch_cell


class MinGRU(torch.nn.Module):
    """minGRU (Feng et al. 2024, "Were RNNs All We Needed?", section 3.1): the gate and
    the candidate read only the input, so h_t is linear in h_{t-1}:
        z_t = sigmoid(W_z x_t + b_z),  c_t = W_c x_t + b_c,  h_t = (1 - z_t) * h_{t-1} + z_t * c_t
    """

    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.gate = torch.nn.Linear(input_size, hidden_size)
        self.candidate = torch.nn.Linear(input_size, hidden_size)

    def forward(self, x, h):  # one step: x_t (B, I), h_{t-1} (B, H) -> h_t
        z = torch.sigmoid(self.gate(x))
        return (1 - z) * h + z * self.candidate(x)


@hookimpl
def rnnbench_register_cells():
    return [torch_cell(MinGRU, "min_gru")]
