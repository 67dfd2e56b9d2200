"""ModelConfig: validation names the option at fault; JSON round trip; no torch needed to import it."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from seqtool.errors import ConfigError, UsageError
from seqtool.models import CELLS, ModelConfig


def test_defaults_are_valid_and_round_trip_through_json():
    cfg = ModelConfig(vocab_size=65, cell="leaky", hidden=32, embed_dim=16, learn_tau=True, tau_max=50.0)
    assert cfg.validate() is cfg
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert again.to_dict()["cell"] == "leaky"


def test_from_dict_fills_defaults_and_rejects_unknown_fields():
    assert ModelConfig.from_dict({"vocab_size": 10}) == ModelConfig(vocab_size=10)
    with pytest.raises(ConfigError, match="colour"):
        ModelConfig.from_dict({"vocab_size": 10, "colour": "red"})
    with pytest.raises(ConfigError, match="vocab_size"):
        ModelConfig.from_dict({"cell": "rnn"})
    with pytest.raises(ConfigError, match="--hidden"):
        ModelConfig.from_dict({"vocab_size": 10, "hidden": 0})


@pytest.mark.parametrize(
    "overrides, option",
    [
        ({"cell": "transformer"}, "--cell"),
        ({"hidden": 0}, "--hidden"),
        ({"hidden": 8.5}, "--hidden"),
        ({"layers": 0}, "--layers"),
        ({"embed_dim": -1}, "--embed-dim"),
        ({"dropout": 1.0}, "--dropout"),
        ({"dropout": -0.1}, "--dropout"),
        ({"tie_weights": True, "embed_dim": 0}, "--tie-weights"),
        ({"tie_weights": True, "embed_dim": 64, "hidden": 128}, "--tie-weights"),
        ({"freeze_embeddings": True}, "--freeze-embeddings"),
        ({"freeze_embeddings": True, "tie_weights": True, "embed_dim": 8, "hidden": 8}, "--freeze-embeddings"),
        ({"tau_min": 0.5}, "--tau-min"),
        ({"tau_min": 10.0, "tau_max": 5.0}, "--tau-max"),
        ({"delay": 1}, "--delay"),
        ({"window": 0}, "--window"),
        ({"learn_tau": "yes"}, "--learn-tau"),
        ({"vocab_size": 1}, "vocab_size"),
    ],
)
def test_invalid_values_raise_an_error_naming_the_option(overrides, option):
    cfg = ModelConfig(**{"vocab_size": 10, "hidden": 8, **overrides})
    kind = ConfigError if option == "vocab_size" else UsageError  # the tokenizer's output vs. an option's value
    with pytest.raises(kind) as info:
        cfg.validate()
    message = str(info.value)
    assert option in message
    assert "\n" not in message


def test_tie_weights_message_says_how_to_fix():
    with pytest.raises(UsageError) as info:
        ModelConfig(vocab_size=10, hidden=128, embed_dim=64, tie_weights=True).validate()
    assert "got 64 vs 128" in str(info.value)
    assert "--embed-dim 128" in str(info.value)


def test_every_cell_name_is_accepted():
    for cell in CELLS:
        ModelConfig(vocab_size=10, cell=cell).validate()


def test_config_import_does_not_import_torch():
    code = (
        "import sys; from seqtool.models import ModelConfig, CELLS; "
        "ModelConfig(vocab_size=5).validate(); "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    repo = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo).returncode == 0


def test_forget_bias_is_validated_and_only_for_lstm():
    assert ModelConfig(vocab_size=5, cell="lstm", forget_bias=2.0).validate().forget_bias == 2.0
    assert ModelConfig(vocab_size=5, cell="lnlstm", forget_bias=2.0).validate().forget_bias == 2.0
    with pytest.raises(UsageError, match="does not apply to --cell gru"):
        ModelConfig(vocab_size=5, cell="gru", forget_bias=1.0).validate()
    with pytest.raises(UsageError, match="--forget-bias must be a finite number"):
        ModelConfig(vocab_size=5, cell="lstm", forget_bias=float("nan")).validate()
    cfg = ModelConfig(vocab_size=5, cell="lstm", forget_bias=1.5)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
