import pytest

from gan_core.config import (
    SUPPORTED_IMAGE_SIZES,
    ConfigError,
    ModelConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
)


def test_defaults_are_the_course_hyperparameters():
    model, train = ModelConfig(), TrainConfig()
    assert (model.nz, model.ngf, model.ndf, model.nc, model.image_size) == (100, 64, 64, 1, 64)
    assert (train.batch_size, train.workers, train.lr, train.beta1) == (128, 2, 2e-4, 0.5)
    assert train.manual_seed == 999
    assert (train.real_label, train.fake_label) == (1.0, 0.0)
    options = (train.ema_decay, train.lr_decay_epochs, train.instance_noise, train.r1_gamma)
    assert options == (0.0, 0, 0.0, 0.0)  # every option off
    assert train.data_dir == ""  # the MNIST shipped in the repository's data/


@pytest.mark.parametrize("size", [0, 28, 48, 128])
def test_unsupported_image_size_lists_the_supported_ones(size):
    with pytest.raises(ConfigError) as info:
        ModelConfig(image_size=size)
    message = str(info.value)
    assert str(size) in message
    assert all(str(s) in message for s in SUPPORTED_IMAGE_SIZES)


@pytest.mark.parametrize("field", ["nz", "ngf", "ndf", "nc"])
@pytest.mark.parametrize("value", [0, -3, 2.5, True])
def test_model_sizes_must_be_positive_integers(field, value):
    with pytest.raises(ConfigError, match=field):
        ModelConfig(**{field: value})


@pytest.mark.parametrize(
    "overrides, names",
    [
        ({"precision": "fp8"}, "precision"),
        ({"device": "tpu"}, "device"),
        ({"data_path": "slow"}, "data_path"),
        ({"batch_size": 0}, "batch_size"),
        ({"save_every": 0}, "save_every"),
        ({"max_steps": -1}, "max_steps"),
        ({"real_label": 0.0}, "labels"),
        ({"ema_decay": 1.0}, "ema_decay"),
        ({"ema_decay": -0.5}, "ema_decay"),
        ({"lr_decay_epochs": -1}, "lr_decay_epochs"),
        ({"instance_noise": -0.1}, "instance_noise"),
        ({"instance_noise": float("nan")}, "instance_noise"),
        ({"r1_gamma": -1.0}, "r1_gamma"),
        ({"r1_gamma": float("inf")}, "r1_gamma"),
        ({"lr_decay_epochs": 6, "num_epochs": 5}, "lr_decay_epochs"),
    ],
)
def test_train_config_rejects_bad_values_by_name(overrides, names):
    with pytest.raises(ConfigError, match=names):
        TrainConfig(**overrides)


def test_round_trip_through_a_dict():
    config = TrainConfig(batch_size=32, lr=1e-3, precision="fp32")
    assert config_from_dict(TrainConfig, config_to_dict(config)) == config


def test_from_dict_refuses_unknown_keys_and_wrong_types():
    with pytest.raises(ConfigError, match="no field"):
        config_from_dict(ModelConfig, {"nz": 100, "hidden_layers": 3})
    with pytest.raises(ConfigError, match="nz must be int"):
        config_from_dict(ModelConfig, {"nz": "100"})
    with pytest.raises(ConfigError, match="JSON object"):
        config_from_dict(ModelConfig, [100])


def test_from_dict_accepts_a_whole_number_for_a_float_field():
    assert config_from_dict(TrainConfig, {"lr": 1}).lr == 1
