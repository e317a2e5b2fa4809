"""The GRU sequence blocks against step-by-step computations written out with their layers."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from plausible.nn import SequenceDecoder, SequenceEncoder


def _decoder(**kwargs: object) -> SequenceDecoder:
    torch.manual_seed(0)
    return SequenceDecoder(3, 5, 8, 6, 2, **kwargs).double()  # type: ignore[arg-type]


def _unroll(
    dec: SequenceDecoder,
    context: Tensor,
    last: Tensor,
    feed: Tensor | None,
    last_step: Tensor | None = None,
) -> Tensor:
    """The decoder one GRU step at a time: read ``feed[t - 1]`` (or its own mean) at step ``t``,
    and with a step scale also the change into it, in units of the scale."""
    n, steps = context.shape[0], 4 if feed is None else feed.shape[1]
    hidden = torch.tanh(dec.init_hidden(context)).reshape(n, dec.num_layers, -1).transpose(0, 1)
    frame, outputs = last, []
    step = torch.zeros_like(last) if last_step is None else last_step
    scale = dec.step_scale
    for t in range(steps):
        reads = frame if scale is None else torch.cat([frame, step / scale], -1)
        out, hidden = dec.gru(torch.cat([reads, context], -1)[:, None], hidden.contiguous())
        raw = dec.readout(out[:, 0])
        if dec.residual:
            move = raw[:, :3] * (1.0 if scale is None else scale)
            raw = torch.cat([frame + move, raw[:, 3:]], -1)
        outputs.append(raw)
        following = raw[:, :3] if feed is None else feed[:, t]
        frame, step = following, following - frame
    return torch.stack(outputs, 1)


def _inputs(n: int = 4, steps: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(1)
    context = torch.randn(n, 5, generator=g, dtype=torch.float64)
    last = torch.randn(n, 3, generator=g, dtype=torch.float64)
    targets = torch.randn(n, steps, 3, generator=g, dtype=torch.float64)
    return context, last, targets


@pytest.mark.parametrize("residual", [True, False], ids=str)
def test_full_teacher_forcing_in_one_call_equals_the_loop_fed_the_true_frames(
    residual: bool,
) -> None:
    dec = _decoder(residual=residual)
    context, last, targets = _inputs()
    got = dec(context, last, 4, targets, teacher_forcing=1.0)
    torch.testing.assert_close(got, _unroll(dec, context, last, targets))


@pytest.mark.parametrize("residual", [True, False], ids=str)
def test_free_running_feeds_back_its_own_mean(residual: bool) -> None:
    dec = _decoder(residual=residual)
    context, last, targets = _inputs()
    expected = _unroll(dec, context, last, None)
    torch.testing.assert_close(dec(context, last, 4), expected)
    # Targets with teacher forcing 0 are never read.
    torch.testing.assert_close(dec(context, last, 4, targets, teacher_forcing=0.0), expected)


@pytest.mark.parametrize("residual", [True, False], ids=str)
def test_a_step_scaled_decoder_reads_changes_and_moves_in_step_units(residual: bool) -> None:
    """Free running, teacher forcing in one call and the loop all read [frame, change / scale]
    and move by scale times the readout."""
    dec = _decoder(residual=residual, step_scale=0.25)
    context, last, targets = _inputs()
    step = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(
        dec(context, last, 4, last_step=step), _unroll(dec, context, last, None, step)
    )
    torch.testing.assert_close(
        dec(context, last, 4, targets, last_step=step, teacher_forcing=1.0),
        _unroll(dec, context, last, targets, step),
    )
    # The change into the last observed frame is read: another one changes the first output.
    assert not torch.allclose(dec(context, last, 1, last_step=step), dec(context, last, 1))
    assert dec.gru.input_size == 3 + 3 + 5


def test_a_step_scaled_decoder_with_a_constant_readout_moves_by_scale_times_it() -> None:
    dec = _decoder(residual=True, step_scale=0.1)
    with torch.no_grad():
        dec.readout.weight.zero_()
        dec.readout.bias.fill_(2.0)
    context, last, _ = _inputs()
    out = dec(context, last, 3)
    expected = last[:, None] + 0.2 * torch.arange(1, 4, dtype=torch.float64)[:, None]
    torch.testing.assert_close(out[..., :3], expected)


def test_free_running_is_a_deterministic_map_of_its_context() -> None:
    dec = _decoder()
    context, last, _ = _inputs()
    torch.manual_seed(1)
    a = dec(context, last, 6)
    torch.manual_seed(2)
    assert torch.equal(a, dec(context, last, 6))


def test_a_residual_decoder_with_a_zero_readout_continues_the_last_frame() -> None:
    dec = _decoder(residual=True)
    with torch.no_grad():
        dec.readout.weight.zero_()
        dec.readout.bias.zero_()
    context, last, _ = _inputs()
    out = dec(context, last, 5)
    assert out.shape == (4, 5, 6)
    assert torch.equal(out[..., :3], last[:, None].expand(-1, 5, -1))
    assert torch.equal(out[..., 3:], torch.zeros(4, 5, 3, dtype=torch.float64))


def test_scheduled_sampling_reads_the_truth_where_its_coin_says() -> None:
    """Ratio 1/2: each step reads the true frame or the decoder's own, as the coins fall."""
    dec = _decoder()
    context, last, targets = _inputs(n=64, steps=4)
    free = _unroll(dec, context, last, None)
    forced = _unroll(dec, context, last, targets)
    g = torch.Generator().manual_seed(5)
    mixed = dec(context, last, 4, targets, teacher_forcing=0.5, generator=g)
    # Step 0 reads the last observed frame whatever the coins; so does every decoder.
    torch.testing.assert_close(mixed[:, 0], free[:, 0])
    # Step 1 reads the truth (matching the forced path) or the own mean (the free path).
    as_forced = (mixed[:, 1] - forced[:, 1]).abs().amax(-1) < 1e-9
    as_free = (mixed[:, 1] - free[:, 1]).abs().amax(-1) < 1e-9
    assert bool((as_forced ^ as_free).all())
    assert 16 < int(as_forced.sum()) < 48  # Binomial(64, 1/2): mean 32, sd 4
    again = dec(context, last, 4, targets, teacher_forcing=0.5, generator=g.manual_seed(5))
    assert torch.equal(mixed, again)


def test_zero_steps_give_an_empty_sequence() -> None:
    dec = _decoder()
    context, last, _ = _inputs()
    assert dec(context, last, 0).shape == (4, 0, 6)


def test_decoder_refuses_mismatched_inputs() -> None:
    dec = _decoder()
    context, last, targets = _inputs()
    with pytest.raises(ValueError, match=r"context \(N, 5\) and last_frame \(N, 3\)"):
        dec(context[:, :4], last, 4)
    with pytest.raises(ValueError, match=r"must hold 3 frames for each of the 4 sequences"):
        dec(context, last, 3, targets)
    with pytest.raises(ValueError, match=r"teacher_forcing must be a probability"):
        dec(context, last, 4, targets, teacher_forcing=1.5)
    with pytest.raises(ValueError, match=r"out_dim >= frame_dim"):
        SequenceDecoder(3, 5, 8, out_dim=2)
    with pytest.raises(ValueError, match=r"step_scale must be a positive number, got 0"):
        SequenceDecoder(3, 5, 8, step_scale=0)
    with pytest.raises(ValueError, match=r"last_step of the shape of last_frame \(4, 3\)"):
        dec(context, last, 4, last_step=last[:, :2])


def test_encoder_summary_is_the_last_layers_final_state() -> None:
    torch.manual_seed(0)
    enc = SequenceEncoder(3, 7, num_layers=2).double()
    x = torch.randn(5, 6, 3, dtype=torch.float64)
    outputs, _ = enc.gru(x)
    torch.testing.assert_close(enc(x), outputs[:, -1])
    # A summary of the whole sequence: changing the first frame changes it.
    y = x.clone()
    y[:, 0] += 1.0
    assert not torch.allclose(enc(y), enc(x))
    with pytest.raises(ValueError, match=r"\(B, T, D=3\), got \(5, 6, 2\)"):
        enc(x[..., :2])
