import pytest

from inctrl.prompts import ANOMALOUS_STATES, NORMAL_STATES, TEMPLATES, object_name, prompt_ensemble


def test_ensemble_sizes_follow_the_official_lists():
    assert (len(NORMAL_STATES), len(ANOMALOUS_STATES), len(TEMPLATES)) == (7, 4, 22)
    normal, anomalous = prompt_ensemble("candle")
    assert (len(normal), len(anomalous)) == (154, 88)
    assert len(set(normal)) == 154 and len(set(anomalous)) == 88


def test_sentences_put_the_state_phrase_into_each_template():
    normal, anomalous = prompt_ensemble("metal_nut")
    assert normal[0] == "a cropped photo of the metal nut."
    assert normal[22] == "a cropped photo of the flawless metal nut."
    assert normal[-1] == "a photo of a metal nut without damage for anomaly detection."
    assert anomalous[0] == "a cropped photo of the damaged metal nut."
    assert anomalous[-1] == "a photo of a metal nut with damage for anomaly detection."


@pytest.mark.parametrize("name", ["airplane", "dog", "truck", "animal"])
def test_semantic_classes_get_one_sentence_per_state(name):
    assert prompt_ensemble(name) == ([f"a photo of {name} for anomaly detection."],
                                     [f"a photo without {name} for anomaly detection."])


def test_object_name_replaces_underscores_and_rejects_empty():
    assert object_name("pcb1") == "pcb1"
    assert object_name("pipe_fryum") == "pipe fryum"
    # the official rule only: no table inside the core renames a dataset
    assert object_name("elpv") == "elpv"
    assert prompt_ensemble("elpv")[0][0] == "a cropped photo of the elpv."
    with pytest.raises(ValueError, match="must not be empty"):
        object_name("_")
