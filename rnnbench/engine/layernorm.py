"""Layer normalisation of a summed input (Ba, Kiros & Hinton 2016, eq. 4 and
section 3.1), per block of H units when G gate blocks are stacked:

    mu = mean_j a_j ;  sigma = sqrt(mean_j (a_j - mu)^2 + eps) ;  n = (a - mu) / sigma
    z = gain * n + bias
Backward, with dn = gain * dz:
    da = (dn - mean_j dn - n * mean_j (dn * n)) / sigma
    dgain = sum_batch dz * n ;  dbias = sum_batch dz
"""

from __future__ import annotations

import numpy as np


def forward(a: np.ndarray, gain: np.ndarray, bias: np.ndarray, groups: int, eps: float):
    B, width = a.shape
    blocks = a.reshape(B, groups, width // groups)
    mu = blocks.mean(axis=2, keepdims=True)
    centred = blocks - mu
    sigma = np.sqrt((centred * centred).mean(axis=2, keepdims=True) + eps)
    n = centred / sigma
    z = n.reshape(B, width) * gain + bias
    return z, (n, sigma)


def backward(dz: np.ndarray, gain: np.ndarray, cache):
    n, sigma = cache
    B, groups, H = n.shape
    n_flat = n.reshape(B, groups * H)
    dgain = (dz * n_flat).sum(axis=0)
    dbias = dz.sum(axis=0)
    dn = (dz * gain).reshape(B, groups, H)
    da = (dn - dn.mean(axis=2, keepdims=True) - n * (dn * n).mean(axis=2, keepdims=True)) / sigma
    return da.reshape(B, groups * H), dgain, dbias
