"""HAPPO's building blocks on analytic cases: the batched actor group against each actor, GAE at a time
limit, a termination and an episode boundary, and the value normaliser."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.centralized_critic import CentralizedCritic, LocalCritics, ValueNormalizer
from agents.policy_networks import ActorGroup, CategoricalActor, mlp_backward, mlp_forward, tanh_via_sigmoid
from agents.ppo_updates import ClippedAdam, clipped_value_loss, clipped_value_loss_gradient, minibatches, surrogate_gradients
from agents.rollout_buffer import compute_gae


# ----------------------------------------------------------------------------------------------
# Actors
# ----------------------------------------------------------------------------------------------
def test_batched_actor_group_matches_each_actor_and_respects_the_action_space():
    # agent 0: 3 choices and a padding dimension; agent 1: two dimensions of 2 choices (a network node)
    nvec = np.array([[3, 1], [2, 2]])
    group = ActorGroup(obs_dim=4, action_nvec=nvec, hidden_sizes=[8], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for actor in group.actors:  # a far-from-uniform policy, so frequencies are informative
            actor.net[-1].weight.mul_(300.0)
    obs = torch.randn(1, 2, 4, generator=torch.Generator().manual_seed(1)).expand(20000, 2, 4).contiguous()
    stacked = group.log_probs_all(obs[:1])  # (1, N, D, K), evaluated for all agents in one bmm
    for i, actor in enumerate(group.actors):
        with torch.no_grad():
            torch.testing.assert_close(stacked[:, i], actor.log_probs_all(obs[:1, i]), rtol=1e-6, atol=1e-6)
    probs = stacked[0].exp()
    assert probs[0, 0, 1] > 0.05 and probs[0, 0, 2] > 0.05 and probs[0, 0, :].max() < 0.95  # not degenerate
    assert probs[0, 1].tolist() == [1.0, 0.0, 0.0] and probs[1, :, 2].tolist() == [0.0, 0.0]  # padding / masked

    actions, log_prob = group.act(obs, deterministic=False, generator=torch.Generator().manual_seed(2))
    assert actions.shape == (20000, 2, 2)
    assert (actions < torch.from_numpy(nvec)).all() and (actions[:, 0, 1] == 0).all()
    freq = torch.bincount(actions[:, 0, 0], minlength=3).double() / 20000
    torch.testing.assert_close(freq, probs[0, 0].double(), rtol=0, atol=0.015)
    with torch.no_grad():
        lp, entropy = group.actors[1].log_prob_entropy(obs[:, 1], actions[:, 1])
    torch.testing.assert_close(lp, log_prob[:, 1])
    assert torch.isfinite(entropy).all()
    greedy, _ = group.act(obs[:1], deterministic=True)
    assert greedy[0].tolist() == stacked[0].argmax(-1).tolist()


def test_doubled_products_give_the_modules_outputs_bit_for_bit():
    # mlp_forward and the stacked rollout layers compute each hidden pre-activation already doubled (the
    # affine map scaled by 2) instead of an extra x + x pass; scaling by 2 is exact, so nothing may differ
    gen = torch.Generator().manual_seed(3)
    group = ActorGroup(obs_dim=7, action_nvec=np.array([[5], [5], [5]]), hidden_sizes=[16, 16], generator=gen)
    obs = torch.randn(257, 3, 7, generator=gen) * 3
    with torch.no_grad():
        for i, actor in enumerate(group.actors):
            inputs, logits = mlp_forward(actor.net, obs[:, i])
            assert torch.equal(logits, actor.net(obs[:, i]))
            assert torch.equal(inputs[1], tanh_via_sigmoid(actor.net[0](obs[:, i])))
        x = obs.transpose(0, 1)  # the rollout's stacked products with undoubled weights, then tanh_via_sigmoid
        linears = [[m for m in a.net if isinstance(m, torch.nn.Linear)] for a in group.actors]
        for j in range(3):
            w = torch.stack([lin[j].weight.t() for lin in linears])
            b = torch.stack([lin[j].bias for lin in linears]).unsqueeze(1)
            x = torch.baddbmm(b, x, w) if j == 2 else tanh_via_sigmoid(torch.baddbmm(b, x, w))
        assert torch.equal(group.log_probs_all(obs), torch.log_softmax(x.transpose(0, 1).unsqueeze(2), -1))


def test_tanh_via_sigmoid_is_tanh_in_value_and_gradient():
    x = torch.linspace(-12, 12, 200001)  # float32, through 0 and into both saturations
    torch.testing.assert_close(tanh_via_sigmoid(x), torch.tanh(x), rtol=0, atol=2e-7)
    x64 = torch.linspace(-5, 5, 1001, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(tanh_via_sigmoid, (x64[::97].detach().requires_grad_(),))
    (grad,) = torch.autograd.grad(tanh_via_sigmoid(x64).sum(), x64)
    torch.testing.assert_close(grad, 1 - torch.tanh(x64.detach()) ** 2, rtol=0, atol=1e-12)
    # second order, as MAML takes it (nested torch.func.grad): d2 tanh / dx2 = -2 tanh (1 - tanh^2)
    second = torch.func.vmap(torch.func.grad(torch.func.grad(tanh_via_sigmoid)))(x64.detach())
    t = torch.tanh(x64.detach())
    torch.testing.assert_close(second, -2 * t * (1 - t**2), rtol=0, atol=1e-12)
    with torch.no_grad():  # the rollout's path: no graph node, the same values
        assert not tanh_via_sigmoid(x64).requires_grad
        torch.testing.assert_close(tanh_via_sigmoid(x64), torch.tanh(x64), rtol=0, atol=1e-15)


@pytest.mark.parametrize("nvec, hidden", [([21], [64, 64]), ([3, 1, 2], [16]), ([5, 5], [8, 8, 8])])
@pytest.mark.parametrize("seed", range(4))
def test_surrogate_gradients_equal_autograd(nvec, hidden, seed):
    # a serial stage (21 orders), a node with choices missing from its dimensions, a deeper network
    gen = torch.Generator().manual_seed(seed)
    actor = CategoricalActor(obs_dim=7, action_nvec=np.array(nvec), n_choices=max(nvec), hidden_sizes=hidden, generator=gen)
    with torch.no_grad():
        actor.net[-1].weight.normal_(0, 0.5, generator=gen)  # a policy far from uniform
    n = 300
    obs = torch.randn(n, 7, generator=gen)
    actions = torch.stack([torch.randint(0, k, (n,), generator=gen) for k in nvec], dim=1)
    with torch.no_grad():
        current = actor.log_prob(obs, actions)
    # old log-probs that put the ratio below, inside and above [0.8, 1.2]; advantages of both signs
    old_log_prob = current - torch.empty(n).uniform_(-0.5, 0.5, generator=gen)
    old_log_prob[:10] = current[:10]  # r = 1 exactly: a tie of the two terms of the min
    weighted_adv = torch.randn(n, generator=gen)
    clip_eps, entropy_coef = 0.2, 0.05

    log_prob, entropy = actor.log_prob_entropy(obs, actions)
    ratio = (log_prob - old_log_prob).exp()
    loss = -torch.min(ratio * weighted_adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * weighted_adv).mean()
    loss = loss - entropy_coef * entropy.mean()
    expected = torch.autograd.grad(loss, list(actor.parameters()))

    grads, step = surrogate_gradients(actor, obs, actions, old_log_prob, weighted_adv, clip_eps, entropy_coef)
    assert ((ratio < 0.8).any() and (ratio > 1.2).any()).item()
    assert len(grads) == len(expected)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    with torch.no_grad():
        log_ratio = log_prob - old_log_prob
        surrogate = torch.min(ratio * weighted_adv, ratio.clamp(1 - clip_eps, 1 + clip_eps) * weighted_adv)
        expected_step = torch.stack([
            -surrogate.mean(), entropy.mean(), ((ratio - 1) - log_ratio).mean(), ((ratio - 1).abs() > clip_eps).float().mean()
        ])
    torch.testing.assert_close(step, expected_step)  # policy loss, entropy, approximate KL, clip fraction


# ----------------------------------------------------------------------------------------------
# Critic loss and optimizer
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_clipped_value_loss_gradient_equals_autograd_through_the_critic(seed):
    gen = torch.Generator().manual_seed(seed)
    critic = CentralizedCritic(state_dim=9, n_agents=3, hidden_sizes=[16, 16], generator=gen)
    state = torch.randn(400, 9, generator=gen)
    with torch.no_grad():
        current = critic(state, None)
    old = current + torch.empty(400, 3).uniform_(-0.6, 0.6, generator=gen)  # clip 0.2: clamped and free rows
    old[:50] = current[:50]  # the first minibatch step: prediction = its rollout value, the max's two terms tie
    targets = current + 2.0 * torch.randn(400, 3, generator=gen)  # errors on both sides of huber_delta
    clip, delta = 0.2, 1.0
    loss = clipped_value_loss(critic(state, None), old, targets, clip, delta)
    expected = torch.autograd.grad(loss, list(critic.parameters()))

    inputs, values = mlp_forward(critic.net, state)
    got_loss, grad_values = clipped_value_loss_gradient(values, old, targets, clip, delta)
    grads = mlp_backward(critic.net, inputs, grad_values)
    change = values - old
    assert ((change.abs() > clip).any() and (change.abs() < clip).any() and ((values - targets).abs() > delta).any()).item()
    torch.testing.assert_close(got_loss, loss.detach())
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # IPPO's critics go through autograd with the same d loss / d values
    local = LocalCritics(obs_dim=9, n_agents=3, hidden_sizes=[8], generator=gen)
    obs = state.view(400, 1, 9).expand(400, 3, 9)
    local_values = local(None, obs)
    expected = torch.autograd.grad(
        clipped_value_loss(local_values, old, targets, clip, delta), list(local.parameters()), retain_graph=True
    )
    _, grad_values = clipped_value_loss_gradient(local_values.detach(), old, targets, clip, delta)
    for got, want in zip(torch.autograd.grad(local_values, list(local.parameters()), grad_values), expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_clipped_value_loss_gradient_splits_a_tie_of_the_max_like_autograd():
    # old 0, clip 0.25: the clipped prediction of 1 is 0.25; target 0.625 is equidistant (0.375) from both,
    # so the two losses tie while only the unclipped one has a gradient: autograd gives it half
    values = torch.tensor([[1.0, 0.5, -2.0]], requires_grad=True)
    old, targets = torch.zeros(1, 3), torch.tensor([[0.625, 3.0, 0.5]])
    (expected,) = torch.autograd.grad(clipped_value_loss(values, old, targets, 0.25, 1.0), values)
    _, got = clipped_value_loss_gradient(values.detach(), old, targets, 0.25, 1.0)
    assert got[0, 0].item() == 0.375 / 2 / 3
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_clipped_adam_is_clip_grad_norm_then_torch_adam():
    gen = torch.Generator().manual_seed(0)
    critic = CentralizedCritic(state_dim=5, n_agents=2, hidden_sizes=[8], generator=gen)
    reference = CentralizedCritic(state_dim=5, n_agents=2, hidden_sizes=[8], generator=torch.Generator())
    reference.load_state_dict(critic.state_dict())
    optimizer = ClippedAdam(critic.parameters(), lr=0.01, max_grad_norm=1.0)
    torch_adam = torch.optim.Adam(reference.parameters(), lr=0.01, eps=1e-5)
    clipped = []
    for step in range(12):
        state = torch.randn(32, 5, generator=gen)
        scale = 0.01 if step % 3 else 100.0  # every third gradient is clipped, the others are not
        grads = torch.autograd.grad(scale * critic(state, None).square().mean(), list(critic.parameters()))
        for p, g in zip(reference.parameters(), grads):
            p.grad = g.clone()
        clipped.append(float(torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 1.0)) > 1.0)
        torch_adam.step()
        optimizer.step(list(grads))
        if step == 5:
            optimizer.lr = torch_adam.param_groups[0]["lr"] = 0.003  # the trainer's schedule sets lr between steps
    assert clipped == [step % 3 == 0 for step in range(12)]
    for got, want in zip(critic.parameters(), reference.parameters()):  # the module's own tensors moved
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert critic.state_dict()["net.0.weight"].data_ptr() == optimizer.flat.data_ptr()

    # a run resumed from a checkpoint of torch.optim.Adam (older runs) continues the same moments
    resumed = CentralizedCritic(state_dim=5, n_agents=2, hidden_sizes=[8], generator=torch.Generator())
    resumed.load_state_dict(reference.state_dict())
    resumed_optimizer = ClippedAdam(resumed.parameters(), lr=0.003, max_grad_norm=1.0)
    resumed_optimizer.load_state_dict(torch_adam.state_dict())
    grads = [torch.randn(p.shape, generator=gen) for p in resumed.parameters()]
    for p, g in zip(reference.parameters(), grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_norm_(list(reference.parameters()), 1.0)
    torch_adam.step()
    resumed_optimizer.step(grads)
    for got, want in zip(resumed.parameters(), reference.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    restored = ClippedAdam(resumed.parameters(), lr=0.003, max_grad_norm=1.0)
    restored.load_state_dict(resumed_optimizer.state_dict())
    assert restored.steps == 13 and torch.equal(restored.exp_avg_sq, resumed_optimizer.exp_avg_sq)


# ----------------------------------------------------------------------------------------------
# GAE and value normalisation
# ----------------------------------------------------------------------------------------------
REWARDS = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64).view(3, 1, 1)
VALUES = torch.tensor([0.5, 0.4, 0.3], dtype=torch.float64).view(3, 1, 1)
NEXT_VALUES = torch.tensor([0.4, 0.3, 0.9], dtype=torch.float64).view(3, 1, 1)
NO = torch.zeros(3, 1, dtype=torch.bool)
LAST = torch.tensor([[False], [False], [True]])


def test_gae_truncation_bootstraps_from_the_final_state_value():
    # gamma 0.9, lambda 0.8: deltas 0.86, 1.87, 3 + 0.9 * 0.9 - 0.3 = 3.51 (V(s_T) = 0.9 kept)
    adv, ret = compute_gae(REWARDS, VALUES, NEXT_VALUES, NO, LAST, gamma=0.9, lam=0.8)
    expected = [0.86 + 0.72 * (1.87 + 0.72 * 3.51), 1.87 + 0.72 * 3.51, 3.51]
    assert adv.view(-1).tolist() == pytest.approx(expected, abs=1e-12)
    assert ret.view(-1).tolist() == pytest.approx([e + v for e, v in zip(expected, [0.5, 0.4, 0.3])], abs=1e-12)


def test_gae_termination_bootstraps_from_zero():
    adv, _ = compute_gae(REWARDS, VALUES, NEXT_VALUES, LAST, NO, gamma=0.9, lam=0.8)
    # last delta = 3 - 0.3 = 2.7: the 0.9 of V(s_T) is dropped
    assert adv.view(-1).tolist() == pytest.approx([0.86 + 0.72 * (1.87 + 0.72 * 2.7), 1.87 + 0.72 * 2.7, 2.7], abs=1e-12)


def test_gae_does_not_carry_advantages_across_an_episode_end():
    truncated_mid = torch.tensor([[False], [True], [False]])
    adv, _ = compute_gae(REWARDS, VALUES, NEXT_VALUES, NO, truncated_mid, gamma=0.9, lam=0.8)
    # step 1 ends its episode: A_1 = delta_1 alone (still bootstrapped from V = 0.3); step 2 starts anew
    assert adv.view(-1).tolist() == pytest.approx([0.86 + 0.72 * 1.87, 1.87, 3.51], abs=1e-12)


def test_value_normalizer_matches_batch_statistics_and_round_trips():
    rng = np.random.default_rng(0)
    a = rng.normal(-3000.0, 400.0, size=(500, 3))
    b = rng.normal(-2500.0, 900.0, size=(300, 3))
    norm = ValueNormalizer(3)
    norm.update(torch.from_numpy(a))
    norm.update(torch.from_numpy(b))
    both = np.concatenate([a, b])
    np.testing.assert_allclose(norm.mean.numpy(), both.mean(0), rtol=1e-12)
    np.testing.assert_allclose(norm.var.numpy(), both.var(0), rtol=1e-10)
    x = torch.from_numpy(both)
    z = norm.normalize(x)
    np.testing.assert_allclose(z.mean(0).numpy(), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(0, unbiased=False).numpy(), 1.0, atol=1e-9)
    np.testing.assert_allclose(norm.denormalize(z).numpy(), both, rtol=1e-12)
    x32 = x.float()
    # float32 keeps ~7 digits of the normalised value: the error is ~1e-7 * std (~1e3), not relative to x
    assert torch.allclose(norm.denormalize(norm.normalize(x32)), x32, rtol=0, atol=1e-3)


def test_minibatches_split_the_rows_once_per_epoch_and_keep_the_tensors_aligned():
    # 10 rows in 3 minibatches: sizes 4, 4, 2; every row once; row i of every tensor in the same minibatch slot
    rows = torch.arange(10)
    features = torch.stack([rows * 10.0, rows * 100.0], dim=1)  # (10, 2)
    generator = torch.Generator().manual_seed(3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3))  # the permutation it must draw
    parts = minibatches((features, rows), 3, generator)
    assert [len(r) for _, r in parts] == [4, 4, 2]
    assert torch.equal(torch.cat([r for _, r in parts]), expected)
    for f, r in parts:
        assert torch.equal(f, torch.stack([r * 10.0, r * 100.0], dim=1))
        assert f.is_contiguous()
    # the next epoch draws a new permutation from the same generator
    again = torch.cat([r for _, r in minibatches((features, rows), 3, generator)])
    assert sorted(again.tolist()) == list(range(10)) and not torch.equal(again, expected)


def test_gradients_written_into_the_optimizers_buffer_give_the_same_step():
    # mlp_backward(out=optimizer.grad_views) then step() must equal step(the returned gradients), bit for bit
    gen = torch.Generator().manual_seed(4)
    nets = [CentralizedCritic(state_dim=5, n_agents=3, hidden_sizes=[8, 8], generator=torch.Generator().manual_seed(1))
            for _ in range(2)]
    optimizers = [ClippedAdam(net.parameters(), lr=0.01, max_grad_norm=0.5) for net in nets]
    initial = optimizers[1].flat.clone()
    for _ in range(3):
        state, grad_out = torch.randn(16, 5, generator=gen), torch.randn(16, 3, generator=gen)
        with torch.no_grad():
            inputs, _ = mlp_forward(nets[0].net, state)
            grads = mlp_backward(nets[0].net, inputs, grad_out)
            written = mlp_backward(nets[1].net, inputs, grad_out, out=optimizers[1].grad_views)
        assert all(torch.equal(a, b) for a, b in zip(grads, written))
        optimizers[0].step(grads)
        optimizers[1].step()
        assert torch.equal(optimizers[0].flat, optimizers[1].flat)
    assert not torch.equal(optimizers[1].flat, initial)  # the steps moved the parameters
