"""Feature visualization of singular vectors (svdwidgets.featurevis) on the bundled MNIST model.

Lucent is a hard test dependency (``pip install --no-deps torch-lucent==0.1.8`` in the test
command). Renders use few steps and small batches: the file runs in well under a minute.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch
from lucent.optvis.objectives import Objective
from torch import nn

from svdwidgets.errors import SVDWidgetsError
from svdwidgets.featurevis import (
    ImageCache,
    Jitter,
    RenderCancelled,
    SingularObjective,
    render_singular_vectors,
    singular_objective,
    top_activating,
    top_activating_each,
    transforms,
)
from svdwidgets.featurevis.adam import Adam
from svdwidgets.featurevis.fusion import fold_pairs, render_copy
from svdwidgets.model.profile import Profile, profile
from svdwidgets.zoo import load_default


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """Renders of 28 px images are many tiny ops: one thread is faster on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def bundle() -> Any:
    return load_default()


@pytest.fixture(scope="module")
def prof(bundle: Any) -> Profile:
    return profile(bundle.model, (1, 28, 28), cache=False, progress=False)


def _no_hooks(model: nn.Module) -> None:
    """Every hook dictionary of every module is empty (forward, pre, backward, state dict)."""
    for name, m in model.named_modules():
        dicts = {k: v for k, v in vars(m).items() if "hooks" in k and isinstance(v, dict)}
        assert "_forward_hooks" in dicts and "_forward_pre_hooks" in dicts
        for key, hooks in dicts.items():
            assert not hooks, f"{name or 'model'}.{key}: {hooks}"


def _input_of(model: nn.Module, layer: str, images: torch.Tensor) -> torch.Tensor:
    """The layer's input, captured independently of the package (full forward pass)."""
    seen: list[torch.Tensor] = []
    h = model.get_submodule(layer).register_forward_pre_hook(
        lambda m, args: seen.append(args[0].clone())
    )
    try:
        with torch.no_grad():
            model(images)
    finally:
        h.remove()
    return seen[0]


# objectives -----------------------------------------------------------------------------------


def test_objectives_are_lucent_objectives_and_add(prof: Profile, bundle: Any) -> None:
    obj = singular_objective(prof, "block.conv1", [0, 1])
    assert isinstance(obj, SingularObjective) and isinstance(obj, Objective)
    x = _input_of(prof.model, "block.conv1", bundle.images[:2])
    T = {obj.key: x}.__getitem__
    assert torch.allclose((obj + 2 * obj)(T), 3 * obj(T))
    assert torch.allclose(obj(T), -obj.scores(T).sum())


def test_channel_objective_is_the_polyphase_spatial_mean(prof: Profile, bundle: Any) -> None:
    # down.conv has stride 2: the right channel pattern is (c_in, 2, 2) on 2x2 pixel blocks
    obj = singular_objective(prof, "down.conv", [0, 5])
    x = _input_of(prof.model, "down.conv", bundle.images[:2]).double()
    p = obj.basis.double().reshape(2, 16, 2, 2)
    blocks = x.reshape(2, 16, 14, 2, 14, 2)
    want = torch.einsum("bcjalk,bcak->b", blocks, p) / (14 * 14)
    assert torch.allclose(obj.scores(x).double(), want, rtol=1e-4, atol=1e-6)
    # with a frequency: cos-weighted mean over the 14 x 14 coarse grid
    f = singular_objective(prof, "down.conv", [0, 5], frequency=(3, 1))
    j = torch.arange(14.0, dtype=torch.float64)
    wave = torch.cos(2 * torch.pi * (3 * j[:, None] / 14 + 1 * j[None, :] / 14))
    want_f = torch.einsum("bcjalk,bcak,jl->b", blocks, p, wave) / (14 * 14)
    assert torch.allclose(f.scores(x).double(), want_f, rtol=1e-4, atol=1e-6)


def test_left_vector_score_is_sigma_times_right(bundle: Any) -> None:
    # stem.conv's exact spectrum (a dense SVD: auto now takes fft there): <u, A x> = sigma <v, x>
    prof = profile(
        bundle.model, (1, 28, 28), cache=False, progress=False, method="exact",
        layers=["stem.conv"],
    )  # fmt: skip
    right = singular_objective(prof, "stem.conv", [0, 3], kind="vector")
    left = singular_objective(prof, "stem.conv", [0, 3], kind="vector", side="left")
    x = _input_of(prof.model, "stem.conv", bundle.images[:2])
    y = prof.model.stem.conv(x)
    sigma = prof["stem.conv"].values[[0, 3]]
    assert torch.allclose(left.scores(y), sigma * right.scores(x), rtol=1e-4, atol=1e-5)


def test_cosine_objective_is_lucents_direction(prof: Profile, bundle: Any) -> None:
    # kind="cosine": the mean over (polyphase) positions of cosine_similarity, as Lucent's
    # direction objective; right side of the stride-2 down.conv, left side of block.conv1
    x = _input_of(prof.model, "down.conv", bundle.images[:3]).double()
    obj = singular_objective(prof, "down.conv", [0, 4, 9], kind="cosine")
    blocks = x.reshape(3, 16, 14, 2, 14, 2).permute(0, 1, 3, 5, 2, 4).reshape(3, 64, 14, 14)
    p = obj.basis.double()[:, :, None, None]
    want = torch.nn.functional.cosine_similarity(blocks, p, dim=1).mean(dim=(1, 2))
    assert torch.allclose(obj.scores(x).double(), want, atol=1e-6)
    left = singular_objective(prof, "block.conv1", [1, 2, 3], side="left", kind="cosine")
    y = prof.model.block.conv1(_input_of(prof.model, "block.conv1", bundle.images[:3]))
    d = left.basis[:, :, None, None]
    want = torch.nn.functional.cosine_similarity(y, d, dim=1).mean(dim=(1, 2))
    assert torch.allclose(left.scores(y), want, atol=1e-5)


@pytest.mark.parametrize("stride", [(1, 1), (2, 2)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_cosine_gradient_is_torchs_even_at_a_zero_block(
    stride: tuple[int, int], channels_last: bool
) -> None:
    # the written-out backward against autograd through torch's cosine_similarity, with a
    # block of zeros (where sqrt's own backward would give 0/0)
    torch.manual_seed(0)
    a = torch.randn(3, 4, 6, 6)
    a[0, :, 2:4, 2:4] = 0
    if channels_last:
        a = a.contiguous(memory_format=torch.channels_last)
    a.requires_grad_(True)
    sh, sw = stride
    k = 4 * sh * sw
    basis = 2 * torch.nn.functional.normalize(torch.randn(3, k), dim=1)  # not unit: |P| = 2
    obj = SingularObjective(
        layer="x", side="right", kind="cosine", indices=(0, 1, 2), basis=basis, linear=False,
        stride=stride, frequency=None, bias=None, scale=None,
    )  # fmt: skip
    (grad,) = torch.autograd.grad(obj.scores(a).sum(), [a])
    b = a.detach().clone().requires_grad_(True)
    blocks = b.reshape(3, 4, 6 // sh, sh, 6 // sw, sw).permute(0, 1, 3, 5, 2, 4)
    blocks = blocks.reshape(3, k, 6 // sh, 6 // sw)
    want = torch.nn.functional.cosine_similarity(blocks, basis[:, :, None, None], dim=1)
    (ref,) = torch.autograd.grad(want.mean(dim=(1, 2)).sum(), [b])
    assert torch.allclose(obj.scores(a), want.mean(dim=(1, 2)), atol=1e-6)
    assert torch.isfinite(grad).all()
    assert torch.allclose(grad, ref, rtol=1e-5, atol=1e-6 * float(ref.abs().max()))


def test_schedule_is_apply_step_by_step() -> None:
    # the precomputed grids and background equal the per-step transform, across blocks
    jitter = Jitter.for_size(20)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    draws = torch.stack([transforms.draw(jitter, 7, g) for g in gens])
    images = torch.rand(3, 2, 20, 20, generator=torch.Generator().manual_seed(0))
    schedule = transforms.Schedule(draws, (20, 20), 0.5, torch.device("cpu"), budget_bytes=1)
    assert schedule.block == 1
    wide = transforms.Schedule(draws, (20, 20), 0.5, torch.device("cpu"))
    assert wide.block == 7
    for step in (0, 3, 6, 2):
        want = transforms.apply(images, draws[:, step], 0.5)
        # grids by broadcasting vs affine_grid's matmul: coordinates agree to float rounding
        assert torch.allclose(schedule(images, step), want, atol=2e-5)
        assert torch.allclose(wide(images, step), want, atol=2e-5)
    assert not torch.allclose(wide(images, 0), wide(images, 1))  # a different draw per step
    with pytest.raises(IndexError, match="step 7"):
        wide(images, 7)


def test_adam_is_torch_adam() -> None:
    torch.manual_seed(0)
    ours_p = torch.randn(3, 5, requires_grad=True)
    ref_p = ours_p.detach().clone().requires_grad_(True)
    ours, ref = Adam(ours_p, lr=0.05), torch.optim.Adam([ref_p], lr=0.05)
    for _ in range(25):
        target = torch.randn(3, 5)
        for p, opt in ((ours_p, ours), (ref_p, ref)):
            opt.zero_grad()
            ((p - target) ** 2 * torch.arange(5.0)).sum().backward()
            opt.step()
    assert torch.allclose(ours_p, ref_p, rtol=1e-6, atol=1e-7)
    assert not torch.allclose(ours_p, torch.zeros(3, 5))
    with pytest.raises(SVDWidgetsError, match="backward"):
        ours.zero_grad()
        ours.step()


# rendering ------------------------------------------------------------------------------------


def test_render_raises_the_objective_several_fold(prof: Profile) -> None:
    r = render_singular_vectors(prof, "block.conv1", [1, 2], side="left", kind="vector", steps=32)
    assert r.images.shape == (2, 28, 28, 1) and r.images.dtype == np.uint8
    assert np.all(r.after > 5 * np.abs(r.before))
    assert np.all(r.after > 20)


def test_a_whole_vector_of_the_first_layer_approaches_its_closed_form_best(
    prof: Profile,
) -> None:
    # The first layer's input is the normalised image z = (x - m) / s with x in [0, 1]: the
    # largest <v, z> is reached at x = 1 where v > 0, x = 0 elsewhere. Jittering the image
    # (the default for channel objectives) would misalign this position-specific objective.
    from svdwidgets.zoo.default import MNIST_MEAN, MNIST_STD

    r = render_singular_vectors(prof, "stem.conv", [0, 1, 2], kind="vector", steps=128)
    assert r.settings["jitter"] == {"shift": 0, "scale": False, "rotate": False, "fill": 0.5}
    for b, i in enumerate(r.indices):
        v, _ = prof["stem.conv"].vector(i)
        best = float((v * ((v > 0).float() - MNIST_MEAN) / MNIST_STD).sum())
        assert 0.5 * best < r.after[b] <= best * (1 + 1e-4), (i, r.after[b], best)


def test_batched_and_one_by_one_agree(prof: Profile) -> None:
    kw: dict[str, Any] = {"steps": 12, "seed": 3}
    batched = render_singular_vectors(prof, "block.conv1", [0, 3, 7], **kw)
    single = render_singular_vectors(prof, "block.conv1", [0, 3, 7], batch=False, **kw)
    # identical seeds and transforms per image; only float summation order differs
    diff = np.abs(batched.images.astype(int) - single.images.astype(int))
    assert diff.max() <= 2
    assert np.allclose(batched.after, single.after, rtol=1e-3, atol=1e-4)
    again = render_singular_vectors(prof, "block.conv1", [0, 3, 7], **kw)
    assert np.array_equal(again.images, batched.images)
    other = render_singular_vectors(prof, "block.conv1", [0, 3, 7], steps=12, seed=4)
    assert not np.array_equal(other.images, batched.images)


def test_render_from_a_model_and_linear_layer(bundle: Any) -> None:
    r = render_singular_vectors(bundle.model, "fc", [0, 1], input_shape=(1, 28, 28), steps=8)
    assert r.images.shape == (2, 28, 28, 1)
    assert np.all(r.after > r.before)
    _no_hooks(bundle.model)


def test_colour_images() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3))
    p = profile(model, (3, 16, 16), cache=False, progress=False, layers=["2"])
    r = render_singular_vectors(p, "2", [0, 1], side="left", steps=8)
    assert r.images.shape == (2, 16, 16, 3) and r.settings["decorrelate"]


@pytest.mark.parametrize("copy_model", [False, True])
def test_no_hooks_and_state_restored_after_success_and_failure(
    prof: Profile, copy_model: bool
) -> None:
    model = prof.model
    model.block.train()
    render_singular_vectors(prof, "block.conv2", [0], steps=2, copy_model=copy_model)
    _no_hooks(model)
    assert model.block.training and not model.stem.training
    assert all(p.requires_grad for p in model.parameters())

    def boom(step: int, total: int) -> None:
        if step == 3:
            raise RuntimeError("failure midway")

    with pytest.raises(RuntimeError, match="failure midway"):
        render_singular_vectors(
            prof, "block.conv2", [0, 1], steps=6, progress=boom, copy_model=copy_model
        )
    _no_hooks(model)
    assert model.block.training and all(p.requires_grad for p in model.parameters())
    model.eval()


def test_cache_returns_the_same_images_without_recomputing(prof: Profile, tmp_path: Any) -> None:
    calls = []
    handle = prof.model.stem.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        cache = ImageCache(directory=tmp_path)
        first = render_singular_vectors(prof, "down.conv", [0, 1], steps=4, cache=cache)
        n_first = len(calls)
        second = render_singular_vectors(prof, "down.conv", [0, 1], steps=4, cache=cache)
        assert len(calls) == n_first  # no forward pass at all
        assert np.array_equal(first.images, second.images) and second.cached.all()
        assert cache.hits == 2 and cache.misses == 2
        # a superset renders only the new direction (not a conjugate twin of 0 or 1: a twin is
        # the same direction, hence a hit); a fresh cache reads the folder back
        spectrum = prof["down.conv"]
        new = next(i for i in range(2, 20) if spectrum.twin(i) not in (0, 1))
        third = render_singular_vectors(prof, "down.conv", [1, 0, new], steps=4, cache=cache)
        assert third.cached.tolist() == [True, True, False]
        assert np.array_equal(third.images[:2], first.images[::-1])
        disk = ImageCache(directory=tmp_path)
        fourth = render_singular_vectors(prof, "down.conv", [new], steps=4, cache=disk)
        assert fourth.cached.all() and np.array_equal(fourth.images[0], third.images[2])
        # other settings are other entries
        fifth = render_singular_vectors(prof, "down.conv", [0], steps=5, cache=cache)
        assert not fifth.cached.any()
    finally:
        handle.remove()


def test_progress_and_cancellation(prof: Profile) -> None:
    seen: list[tuple[int, int]] = []
    render_singular_vectors(
        prof, "down.conv", [0, 1], steps=5, batch=False, progress=lambda s, t: seen.append((s, t))
    )
    assert seen == [(s, 10) for s in range(1, 11)]

    cancel = threading.Event()

    def stop_at_3(step: int, total: int) -> None:
        if step == 3:
            cancel.set()

    with pytest.raises(RenderCancelled) as info:
        render_singular_vectors(
            prof, "down.conv", [0, 1], steps=50, progress=stop_at_3, cancel=cancel
        )
    partial = info.value.partial
    assert partial.steps == 3 and partial.images.shape == (2, 28, 28, 1)
    _no_hooks(prof.model)


# dataset examples -----------------------------------------------------------------------------


def test_top_activating_matches_brute_force(prof: Profile, bundle: Any) -> None:
    images = bundle.images[:400]
    batches = [(images[i : i + 64], bundle.labels[i : i + 64]) for i in range(0, 400, 64)]
    result = top_activating(prof, batches, "block.conv1", 2, n=5)
    x = _input_of(prof.model, "block.conv1", images)
    c = singular_objective(prof, "block.conv1", 2).basis[0]
    brute = torch.einsum("nchw,c->n", x, c) / (14 * 14)
    assert result.top_indices.tolist() == torch.topk(brute, 5).indices.tolist()
    assert result.bottom_indices.tolist() == torch.topk(-brute, 5).indices.tolist()
    assert torch.allclose(result.top_scores.float(), torch.topk(brute, 5).values, atol=1e-4)
    assert torch.equal(result.top_images, images[result.top_indices])
    assert result.count == 400
    _no_hooks(prof.model)


def test_top_activating_each_is_one_pass_with_every_directions_examples(
    prof: Profile, bundle: Any
) -> None:
    images = bundle.images[:400]
    x = _input_of(prof.model, "block.conv1", images)
    calls = []
    hook = prof.model.block.conv1.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        results = top_activating_each(
            prof, images, "block.conv1", [0, 2, 5, 2], n=4, batch_size=128
        )
    finally:
        hook.remove()
    assert len(calls) == 4  # one forward pass: 400 inputs in 4 batches, not 4 per direction
    assert [r.index for r in results] == [0, 2, 5, 2]
    for r in results:
        c = singular_objective(prof, "block.conv1", r.index).basis[0]
        brute = torch.einsum("nchw,c->n", x, c) / (14 * 14)
        assert r.top_indices.tolist() == torch.topk(brute, 4).indices.tolist()
        assert r.bottom_indices.tolist() == torch.topk(-brute, 4).indices.tolist()
        # the very numbers of one top_activating per direction
        one = top_activating(prof, images, "block.conv1", r.index, n=4, batch_size=128)
        assert torch.equal(r.top_scores, one.top_scores)
        assert torch.equal(r.bottom_scores, one.bottom_scores)
        assert torch.equal(r.top_images, images[r.top_indices]) and r.count == 400
    _no_hooks(prof.model)


def test_top_activating_left_side_tensor_data(prof: Profile, bundle: Any) -> None:
    result = top_activating(prof, bundle.images[:300], "fc", 0, n=3, side="left", batch_size=128)
    with torch.no_grad():
        logits = prof.model(bundle.images[:300])
    u = singular_objective(prof, "fc", 0, side="left").basis[0]
    assert prof.model.fc.bias is not None
    brute = (logits - prof.model.fc.bias) @ u
    assert result.top_indices.tolist() == torch.topk(brute, 3).indices.tolist()


# bad input ------------------------------------------------------------------------------------


def test_bad_inputs(prof: Profile, bundle: Any) -> None:
    with pytest.raises(SVDWidgetsError, match="unknown layer"):
        render_singular_vectors(prof, "nope", [0])
    k = len(prof["block.conv1"])
    with pytest.raises(SVDWidgetsError, match="out of range"):
        render_singular_vectors(prof, "block.conv1", [0, k])
    with pytest.raises(SVDWidgetsError, match="frequency"):
        singular_objective(prof, "fc", 0, frequency=(0, 0))
    with pytest.raises(SVDWidgetsError, match="frequency"):
        singular_objective(prof, "block.conv1", 0, frequency=(14, 0))
    with pytest.raises(SVDWidgetsError, match="profiled size"):
        render_singular_vectors(prof, "block.conv1", [0], kind="vector", size=32)
    with pytest.raises(SVDWidgetsError, match="kind"):
        singular_objective(prof, "block.conv1", 0, kind="neuron")
    with pytest.raises(SVDWidgetsError, match="steps"):
        render_singular_vectors(prof, "block.conv1", [0], steps=0)
    with pytest.raises(SVDWidgetsError, match="input_shape"):
        render_singular_vectors(bundle.model, "block.conv1", [0])
    with pytest.raises(SVDWidgetsError, match="n must be"):
        top_activating(prof, bundle.images[:10], "block.conv1", 0, n=0)
    _no_hooks(prof.model)


def test_size_too_small_and_non_image_models() -> None:
    torch.manual_seed(0)
    valid = nn.Sequential(nn.Conv2d(1, 4, 5), nn.ReLU(), nn.Conv2d(4, 4, 5))
    p = profile(valid, (1, 16, 16), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match="too small for layer"):
        render_singular_vectors(p, "2", [0], size=6, steps=2)
    _no_hooks(valid)
    mlp = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    q = profile(mlp, (12,), cache=False, progress=False)
    with pytest.raises(SVDWidgetsError, match="optimises an image"):
        render_singular_vectors(q, "2", [0], steps=2)


def test_background_render_leaves_a_concurrent_eval_model_alone(prof: Profile, bundle: Any) -> None:
    # a render in another thread while this thread runs the same (eval-mode) model: this
    # thread's outputs never change, its passes are not stopped by the render's hook, and the
    # render never turns off requires_grad
    model = prof.model.eval()
    x = bundle.images[::50][:16]
    with torch.no_grad():
        want = model(x)
    errors: list[BaseException] = []
    seen: list[bool] = []

    def check(step: int, total: int) -> None:
        seen.append(all(p.requires_grad for p in model.parameters()))

    def work() -> None:
        try:
            render_singular_vectors(
                prof, "block.conv1", [0, 1], steps=40, progress=check, copy_model=False
            )
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    worker = threading.Thread(target=work)
    worker.start()
    passes = 0
    while worker.is_alive() or passes == 0:
        with torch.no_grad():
            got = model(x)
        assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)
        passes += 1
    worker.join()
    assert not errors and seen and all(seen)
    _no_hooks(model)


def test_copy_model_never_touches_the_callers_model(prof: Profile) -> None:
    model = prof.model
    model.train()
    states: list[tuple[bool, bool]] = []

    def check(step: int, total: int) -> None:
        hooked = any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
        states.append((all(m.training for m in model.modules()), hooked))

    try:
        copied = render_singular_vectors(
            prof, "block.conv1", [0, 1], steps=6, seed=2, progress=check, copy_model=True
        )
        assert states and all(s == (True, False) for s in states)
        top_activating(prof, torch.rand(20, 1, 28, 28), "block.conv1", 0, n=2, copy_model=True)
        assert all(m.training for m in model.modules())
        model.eval()
        shared = render_singular_vectors(
            prof, "block.conv1", [0, 1], steps=6, seed=2, copy_model=False
        )
        # the same render either way (the copy's folded batch norms change only rounding)
        assert np.abs(copied.images.astype(int) - shared.images.astype(int)).max() <= 2
        assert np.allclose(copied.after, shared.after, rtol=1e-3, atol=1e-5)
    finally:
        model.eval()
    with pytest.raises(SVDWidgetsError, match="copy_model"):
        render_singular_vectors(prof, "block.conv1", [0], steps=2, copy_model="yes")  # type: ignore[arg-type]


# the render's private copy: batch norms folded -------------------------------------------------


def test_batch_norms_fold_into_the_convolutions_before_them(prof: Profile, bundle: Any) -> None:
    model = prof.model.eval()
    x = bundle.images[:4]
    right = render_copy(model, torch.device("cpu"), "block.conv1", "right", lambda: x)
    assert right.folded == (("stem.conv", "stem.bn"), ("down.conv", "down.bn"))
    assert right.model is not model and isinstance(right.model.stem.bn, nn.Identity)
    assert isinstance(model.stem.bn, nn.BatchNorm2d)  # the caller's model is untouched
    want = _input_of(model, "block.conv1", x)
    assert torch.allclose(_input_of(right.model, "block.conv1", x), want, atol=1e-5)
    # the left side reads block.conv1's own output: its batch norm stays
    left = render_copy(model, torch.device("cpu"), "block.conv1", "left", lambda: x)
    assert ("block.conv1", "block.bn1") not in left.folded and len(left.folded) == 2
    deep = render_copy(model, torch.device("cpu"), "fc", "right", lambda: x)
    assert ("block.conv1", "block.bn1") in deep.folded and len(deep.folded) == 4
    with torch.no_grad():
        assert torch.allclose(deep.model(x), model(x), atol=1e-4)
    _no_hooks(model)
    _no_hooks(deep.model)


class _SharedConvOutput(nn.Module):
    """``bn(conv(x)) + conv(x)``: the conv's raw output is read twice, so folding is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Conv2d(4, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head(self.bn(y) + y)


def test_folding_that_would_change_an_activation_is_refused() -> None:
    torch.manual_seed(0)
    model = _SharedConvOutput()
    with torch.no_grad():  # statistics far from the identity, so a wrong fold shows
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.2, 3)
    model.eval()
    x = torch.rand(2, 1, 12, 12)
    assert fold_pairs(model, x, "head", "right") == [("conv", "bn")]  # looks foldable
    made = render_copy(model, torch.device("cpu"), "head", "right", lambda: x)
    assert made.folded == () and isinstance(made.model.bn, nn.BatchNorm2d)  # the check refused


class _Uncopyable(nn.Sequential):
    def __deepcopy__(self, memo: dict[int, object]) -> None:
        raise TypeError("cannot pickle '_thread.lock' object")


def test_a_model_that_cannot_be_copied_renders_in_place_when_asked() -> None:
    torch.manual_seed(0)
    model = _Uncopyable(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3))
    p = profile(model, (1, 12, 12), cache=False, progress=False, layers=["2"])
    with pytest.raises(SVDWidgetsError, match=r"deep-copy .*_thread.lock.*copy_model=False"):
        render_singular_vectors(p, "2", [0], steps=2)
    r = render_singular_vectors(p, "2", [0], steps=4, copy_model=False)
    assert r.images.shape == (1, 12, 12, 1)
    _no_hooks(model)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("copy_model", [True, False])
def test_the_gpu_path_runs_on_cpu(prof: Profile, side: str, copy_model: bool) -> None:
    # float16 autocast + channels-last (the CUDA defaults), here under CPU autocast: the same
    # code path, so a dtype slip in it (the probe once ran the layer in float32 on a float16
    # activation) fails without a GPU
    kw: dict[str, Any] = {"side": side, "steps": 8, "seed": 1, "copy_model": copy_model}
    half = render_singular_vectors(prof, "block.conv1", [0, 1], amp=True, channels_last=True, **kw)
    full = render_singular_vectors(prof, "block.conv1", [0, 1], amp=False, **kw)
    assert half.settings["amp"] and not full.settings["amp"]
    assert np.all(np.isfinite(half.after)) and np.all(half.after > half.before)
    assert np.allclose(half.after, full.after, rtol=0.05, atol=0.02)
    assert np.abs(half.images.astype(int) - full.images.astype(int)).mean() < 8  # of 255
    _no_hooks(prof.model)
    assert all(p.dtype == torch.float32 for p in prof.model.parameters())
    assert all(p.is_contiguous() for p in prof.model.parameters())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_mixed_precision_render(prof: Profile) -> None:
    r = render_singular_vectors(prof, "block.conv1", [0, 1], steps=8, device="cuda")
    assert r.settings["amp"] and r.images.shape == (2, 28, 28, 1)
    assert np.all(np.isfinite(r.after))
    _no_hooks(prof.model)
