"""Projections onto singular directions: brute-force references, in-place ops, hooks, devices."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.model.profile import Profile, profile
from svdwidgets.model.projection import Projections, project


class Small(nn.Module):
    """conv (bias) -> in-place ReLU -> strided grouped conv (bias) -> ReLU -> pool -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(6, 8, 3, stride=2, padding=1, groups=2)
        self.relu2 = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def _small() -> tuple[Small, torch.Tensor]:
    torch.manual_seed(0)
    model = Small()
    with torch.no_grad():  # biases large enough that the ReLUs cut a lot
        for m in (model.conv1, model.conv2):
            assert m.bias is not None
            m.bias.normal_(0.0, 0.5)
    return model, torch.randn(11, 3, 8, 8)


def _prof(model: nn.Module, shape: tuple[int, ...], **kw: Any) -> Profile:
    return profile(model, input_shape=shape, cache=False, progress=False, **kw)


def _left_vectors(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference unfolded SVD: (U (c_out, r), σ (r,)) of W reshaped to c_out x rest."""
    u, s, _ = torch.linalg.svd(weight.detach().double().reshape(weight.shape[0], -1))
    return u[:, : s.shape[0]], s


def _reference_maps(model: Small, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Hook-free float64 re-implementation: each layer's output minus its bias, per position."""
    m, x = model, x.double()
    assert m.conv1.bias is not None and m.conv2.bias is not None
    w1, b1 = m.conv1.weight.double(), m.conv1.bias.double()
    w2, b2 = m.conv2.weight.double(), m.conv2.bias.double()
    lin1 = F.conv2d(x, w1, None, padding=1)
    a1 = torch.relu(lin1 + b1[:, None, None])
    lin2 = F.conv2d(a1, w2, None, stride=2, padding=1, groups=2)
    a2 = torch.relu(lin2 + b2[:, None, None])
    lin3 = a2.mean(dim=(2, 3)) @ m.fc.weight.double().T
    return {"conv1": lin1, "conv2": lin2, "fc": lin3[:, :, None, None]}


def _check_against_reference(
    result: Projections, reference: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]
) -> None:
    for name, lin in reference.items():
        p = result[name]
        u_ref, s_ref = _left_vectors(weights[name])
        k = p.k
        torch.testing.assert_close(p.values.double(), s_ref[:k], rtol=1e-5, atol=1e-6)
        # the implementation's u_i are the reference's up to sign
        signs = torch.sign((u_ref[:, :k] * p.vectors.double().T).sum(dim=0))
        torch.testing.assert_close(p.vectors.double().T, u_ref[:, :k] * signs, rtol=1e-5, atol=1e-6)
        maps = torch.zeros(lin.shape[0], k, lin.shape[2], lin.shape[3], dtype=torch.float64)
        for i in range(k):  # explicit loops over directions and positions: <u_i, y_n[:, h, w]>
            for h in range(lin.shape[2]):
                for w in range(lin.shape[3]):
                    maps[:, i, h, w] = signs[i] * (lin[:, :, h, w] @ u_ref[:, i])
        torch.testing.assert_close(p.mean.double(), maps.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(p.max.double(), maps.amax(dim=(2, 3)), rtol=1e-4, atol=1e-5)


def test_unfolded_projections_equal_a_brute_force_computation() -> None:
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    result = project(prof, x, model=model, keep_maps=True)
    assert result.layers == ["conv1", "conv2", "fc"] and result.n == 11
    assert result.directions == "unfolded" and result.labels is None
    assert {n: result[n].k for n in result} == {"conv1": 6, "conv2": 8, "fc": 5}
    weights = {"conv1": model.conv1.weight, "conv2": model.conv2.weight, "fc": model.fc.weight}
    _check_against_reference(result, _reference_maps(model, x), weights)
    maps = result["conv2"].maps
    assert maps is not None and maps.shape == (11, 8, 4, 4)
    torch.testing.assert_close(maps.mean(dim=(2, 3)), result["conv2"].mean)
    assert result["conv1"].maps is not None and result["fc"].maps is not None
    # the unfolded identity: <u_i, W patch> = σ_i <v_i, patch>, at one position
    u, s, vh = torch.linalg.svd(model.conv1.weight.detach().double().reshape(6, -1))
    patch = F.unfold(x.double(), 3, padding=1)[:, :, 9]  # position (1, 1) of 8x8
    sign = torch.sign(torch.dot(u[:, 0], result["conv1"].vectors[0].double()))
    torch.testing.assert_close(
        result["conv1"].maps[:, 0, 1, 1].double(), sign * s[0] * (patch @ vh[0]), rtol=1e-4,
        atol=1e-5,
    )  # fmt: skip


def test_cpu_batches_run_channels_last_and_leave_the_model_as_it_was() -> None:
    """The forward pass runs on channels-last batches (oneDNN's faster layout on the CPU); the
    projections are the brute-force ones all the same, and the model's weights are untouched."""
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    seen: list[bool] = []
    hook = model.conv1.register_forward_pre_hook(
        lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last))
    )
    try:
        result = project(prof, x.contiguous(), model=model, keep_maps=True, batch_size=4)
    finally:
        hook.remove()
    assert seen == [True, True, True]  # 11 inputs in batches of 4
    assert model.conv1.weight.is_contiguous()  # the model keeps its own layout
    weights = {"conv1": model.conv1.weight, "conv2": model.conv2.weight, "fc": model.fc.weight}
    _check_against_reference(result, _reference_maps(model, x), weights)


def test_top_k_and_layer_selection() -> None:
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    full = project(prof, x, model=model)
    part = project(prof, x, model=model, layers=["conv2", "conv1"], k=3)
    assert part.layers == ["conv1", "conv2"]  # forward order
    for name in part:
        assert part[name].mean.shape == (11, 3) and part[name].values.shape == (3,)
        torch.testing.assert_close(part[name].mean, full[name].mean[:, :3])
    capped = project(prof, x, model=model, k=7)
    assert {n: capped[n].k for n in capped} == {"conv1": 6, "conv2": 7, "fc": 5}
    df = full.to_dataframe("max")
    assert df.shape == (11, 19) and df[("conv2", 3)].tolist() == full["conv2"].max[:, 3].tolist()


def _naive_post_activation(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a hook that stores the output *without cloning* sees once the forward pass is over."""
    kept: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, a, out: kept.append(out))
    with torch.no_grad():
        model(x)
    handle.remove()
    return kept[0]


def test_in_place_relu_does_not_change_the_projection_of_the_pre_activation() -> None:
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
    model = nn.Sequential(conv, nn.ReLU(inplace=True))
    x = torch.randn(5, 2, 6, 6)
    prof = _prof(model, (2, 6, 6), method="unfolded")
    result = project(prof, x, model=model, keep_maps=True)
    p = result["0"]
    u = p.vectors.double().T  # (c_out, k)
    pre = F.conv2d(x.double(), conv.weight.double(), padding=1)
    assert bool((pre < 0).any())
    expected = torch.einsum("nchw,ck->nkhw", pre, u)
    torch.testing.assert_close(p.maps.double(), expected, rtol=1e-4, atol=1e-5)  # type: ignore[union-attr]
    # A hook that keeps the output tensor without cloning reads the ReLU'd values: the test
    # above distinguishes the two, so a non-cloning implementation fails it.
    stored = _naive_post_activation(model, conv, x).double()
    assert bool((stored >= 0).all())
    naive = torch.einsum("nchw,ck->nkhw", stored, u)
    assert (naive - expected).abs().max() > 0.1
    assert not torch.allclose(p.mean.double(), naive.mean(dim=(2, 3)), atol=1e-3)


def test_batch_size_independence_and_dataloader_input() -> None:
    model, x = _small()
    y = torch.arange(11) % 3
    prof = _prof(model, (3, 8, 8), method="unfolded")
    one = project(prof, x, model=model, batch_size=1)
    seven = project(prof, x, model=model, batch_size=7)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    loaded = project(prof, loader, model=model)
    listed = project(prof, [x[:3], x[3:]], model=model)
    unlabelled = project(prof, DataLoader(TensorDataset(x), batch_size=5), model=model)
    for name in one:
        for other in (seven, loaded, listed, unlabelled):
            torch.testing.assert_close(other[name].mean, one[name].mean, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(other[name].max, one[name].max, rtol=1e-5, atol=1e-6)
    assert loaded.labels is not None and loaded.labels.tolist() == y.tolist()
    assert listed.labels is None and unlabelled.labels is None and loaded.n == 11


def test_project_restores_training_flags() -> None:
    model, x = _small()
    model.train()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    model.conv2.eval()  # a submodule the user put in eval mode individually
    result = project(prof, x, model=model, k=2)
    assert isinstance(result, Projections) and result["fc"].mean.shape == (11, 2)
    assert model.training and model.conv1.training and not model.conv2.training


class Failing(nn.Module):
    """Runs its conv, then raises on the second batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.relu = nn.ReLU(inplace=True)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        y = self.relu(self.conv(x))
        if self.calls == 3:  # the profile's probe, then batch 0; batch 1 fails
            raise RuntimeError("boom in the user's model")
        return y


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_hooks_are_removed_after_success_and_after_an_error_midway() -> None:
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    project(prof, x, model=model)
    assert _no_hooks(model)

    failing = Failing()
    prof = _prof(failing, (1, 5, 5), method="unfolded")
    with pytest.raises(SVDWidgetsError, match=r"batch 1 of shape \(2, 1, 5, 5\).*boom"):
        project(prof, torch.randn(6, 1, 5, 5), model=failing, batch_size=2)
    assert failing.calls == 3 and _no_hooks(failing)
    assert failing.training  # restored after the error too


def test_operator_directions_on_a_circular_layer_satisfy_p_equals_sigma_v_dot_x() -> None:
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular", bias=True)
    assert conv.bias is not None
    with torch.no_grad():
        conv.bias.fill_(0.7)  # must be removed: p_i = <u_i, A x> with A linear
    model = nn.Sequential(conv, nn.ReLU(inplace=True))
    x = torch.randn(4, 2, 6, 6)
    prof = _prof(model, (2, 6, 6))
    spec = prof["0"]
    assert spec.method == "fft" and spec.exact
    result = project(prof, x, model=model, directions="operator", k=5)
    p = result["0"]
    assert p.exact and p.vectors.shape == (5, 3, 6, 6) and p.maps is None
    for i in range(5):
        v, u = spec.vector(i)
        torch.testing.assert_close(p.vectors[i], u.float())
        expected = spec.values[i] * (x.flatten(1) @ v.reshape(-1).float())
        torch.testing.assert_close(p.mean[:, i], expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(p.max[:, i], p.mean[:, i])


def test_operator_directions_on_exact_zero_padded_and_transposed_layers() -> None:
    torch.manual_seed(3)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.ConvTranspose2d(3, 2, 2, stride=2))
    x = torch.randn(3, 2, 5, 5)
    prof = _prof(model, (2, 5, 5), method="exact")
    result = project(prof, x, model=model, directions="operator", k=4)
    hidden = F.conv2d(x, conv.weight, conv.bias, padding=1)
    for name, inputs in (("0", x), ("1", hidden)):
        spec = prof[name]
        for i in range(4):
            v, _ = spec.vector(i)
            expected = spec.values[i] * (inputs.flatten(1) @ v.reshape(-1).float())
            torch.testing.assert_close(result[name].mean[:, i], expected, rtol=1e-4, atol=1e-4)
    # the unfolded directions do not exist for a ConvTranspose2d: listed, not dropped
    unfolded = project(prof, x, model=model)
    assert unfolded.layers == ["0"] and "ConvTranspose2d" in unfolded.skipped["1"]


def test_operator_directions_of_an_approximate_fft_spectrum_are_flagged() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1))
    prof = _prof(model, (1, 6, 6), method="fft")
    result = project(prof, torch.randn(2, 1, 6, 6), model=model, directions="operator", k=2)
    assert not result["0"].exact and "circular" in (result["0"].note or "")


def test_folded_batchnorm_projects_the_folded_operator_image() -> None:
    torch.manual_seed(4)
    conv, bn = nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4)
    model = nn.Sequential(conv, bn, nn.ReLU(inplace=True))
    assert bn.running_mean is not None and bn.running_var is not None
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
    model.eval()
    x = torch.randn(3, 2, 6, 6)
    prof = _prof(model, (2, 6, 6), method="unfolded", fold_bn=True)
    p = project(prof, x, model=model)["0"]
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    folded = conv.weight.double() * scale[:, None, None, None]
    u, s = _left_vectors(folded)
    torch.testing.assert_close(p.values.double(), s, rtol=1e-5, atol=1e-6)
    image = F.conv2d(x.double(), folded, padding=1)  # the folded operator applied to x
    signs = torch.sign((u * p.vectors.double().T).sum(dim=0))
    expected = torch.einsum("nchw,ck->nk", image, u * signs) / 36
    torch.testing.assert_close(p.mean.double(), expected, rtol=1e-4, atol=1e-5)


def test_bad_inputs() -> None:
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    with pytest.raises(SVDWidgetsError, match="'conv9'"):
        project(prof, x, model=model, layers=["conv9"])
    with pytest.raises(SVDWidgetsError, match="device meta"):
        project(prof, torch.empty(2, 3, 8, 8, device="meta"), model=model)
    with pytest.raises(SVDWidgetsError, match=r"4 channels.*'conv1' expects in_channels=3"):
        project(prof, torch.zeros(2, 4, 8, 8), model=model)
    for k in (0, -1, True, 2.5):
        with pytest.raises(SVDWidgetsError, match=f"k must be a positive int or None, got {k}"):
            project(prof, x, model=model, k=k)  # type: ignore[arg-type]
    with pytest.raises(SVDWidgetsError, match=r"k=9 is out of range.*at most 8"):
        project(prof, x, model=model, k=9)
    with pytest.raises(SVDWidgetsError, match="'rows'"):
        project(prof, x, model=model, directions="rows")
    torch.testing.assert_close(  # the profile's own model is the default
        project(prof, x)[prof.layers[0]].mean,
        project(prof, x, model=model)[prof.layers[0]].mean,
    )
    with pytest.raises(SVDWidgetsError, match="not a module of the given Small"):
        project(prof, x, model=Small())
    with pytest.raises(SVDWidgetsError, match="got str"):
        project(prof, "images", model=model)
    with pytest.raises(SVDWidgetsError, match="no samples"):
        project(prof, [], model=model)
    with pytest.raises(SVDWidgetsError, match=r"got shape \(0, 3, 8, 8\)"):
        project(prof, torch.zeros(0, 3, 8, 8), model=model)
    op = _prof(model, (3, 8, 8), method="exact", layers=["conv1"])
    with pytest.raises(SVDWidgetsError, match="needs k="):
        project(op, x, model=model, directions="operator")
    with pytest.raises(SVDWidgetsError, match=r"shape \(6, 10, 10\).*\(6, 8, 8\)"):
        project(op, torch.zeros(1, 3, 10, 10), model=model, directions="operator", k=2)
    assert _no_hooks(model)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_model_takes_cpu_batches_and_rejects_other_devices() -> None:  # pragma: no cover
    model, x = _small()
    prof = _prof(model, (3, 8, 8), method="unfolded")
    cpu = project(prof, x, model=model)
    model.cuda()
    for data in (x, x.cuda(), DataLoader(TensorDataset(x), batch_size=4)):
        gpu = project(prof, data, model=model)
        for name in cpu:
            assert gpu[name].mean.device.type == "cpu"
            torch.testing.assert_close(gpu[name].mean, cpu[name].mean, rtol=1e-4, atol=1e-4)
    model.cpu()
    with pytest.raises(SVDWidgetsError, match="is on device cuda:0 but the model is on cpu"):
        project(prof, x.cuda(), model=model)
