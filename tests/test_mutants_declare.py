"""The known bugs of softmax with cross-entropy and of L2 (taxonomy patterns 23, 30-33): each,
placed in otherwise correct code of a declared family, is caught by the fuzzer and named by the
diagnosis."""
import pytest

from crosscheck import audit_target
from crosscheck.diagnosis import diagnose
from crosscheck.diagnosis.variants import variant
from crosscheck.drawing.sampler import seeded_case
from crosscheck.judge.check import check_case
from crosscheck.model.target import Target

SOFTMAX = dict(activations=["tanh", "softmax"], loss="cross_entropy")
L2 = dict(activations=["tanh", "identity"], loss="mse", l2=0.5)

CASES = [
    ("softmax-backward-on-fused", SOFTMAX),
    ("fused-not-averaged", SOFTMAX),
    ("softmax-wrong-axis", SOFTMAX),
    ("l2-missing", L2),
    ("l2-on-bias", L2),
    ("l2-without-half", L2),
    ("l2-wrong-count", dict(L2, l2_by_batch=True, reduction="batch_mean")),
    ("l2-wrong-count", dict(L2, reduction="sum")),
    ("l2-without-half", dict(L2, bias=False)),  # layers without biases: diagnosed on dW alone
    ("softmax-backward-on-fused", dict(SOFTMAX, bias=False)),
]


def mutant_target(key, declaration):
    """A target returning W/b only, like user code, with the variant's bug at the first layer it fits."""
    family = audit_target(**declaration)(lambda *a: None).__crosscheck_target__["family"]
    bug = variant(key)

    def fn(X, Y, params, *, network):
        layer = bug.layers(network)[-1]
        grads = bug.gradients(network, X, Y, params, layer)
        return {n: grads[n] for n in network.param_names()}

    return Target(key, fn, family, takes_network=True)


@pytest.mark.parametrize("key, declaration", CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(CASES)])
def test_a_known_bug_of_the_new_pieces_is_caught_and_named(key, declaration):
    target = mutant_target(key, declaration)
    caught = next((r.case for r in (check_case(target, seeded_case(1, i, target.family)) for i in range(30))
                   if not r.agree), None)
    assert caught is not None, f"{key} was not caught in 30 cases"
    d = diagnose(target, caught)
    assert key in {m["variant"] for m in d.matches}, d.message
