"""The DARTS space: Genotype text read and written exactly, published cells by name, paper counts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nascli.core.space import ArchError
from nascli.hardware.cost import count_params
from nascli.spaces.darts import DartsSpace, resolve
from nascli.spaces.darts.genotype import format_genotype, parse_genotype
from nascli.spaces.darts.genotypes import NAMED

# Parameter counts the papers report (millions, auxiliary head excluded), with the DARTS evaluation
# networks: CIFAR-10 C=36 / 20 cells; ImageNet-mobile C=48 / 14 cells.
CIFAR10_PAPERS = {"DARTS_V2": 3.3, "PC_DARTS": 3.6, "PDARTS": 3.4, "GDAS_V1": 3.4}
IMAGENET_PAPERS = {"DARTS_V2": 4.7, "PC_DARTS_IMAGENET": 5.3, "PDARTS": 4.9}


@pytest.mark.parametrize("name,millions", CIFAR10_PAPERS.items())
def test_cifar10_evaluation_network_counts_match_the_papers(name, millions):
    net = DartsSpace(channels=36, layers=20, auxiliary=True).build(name, (3, 32, 32), 10)
    assert round(count_params(net) / 1e6, 1) == millions


@pytest.mark.parametrize("name,millions", IMAGENET_PAPERS.items())
def test_imagenet_mobile_network_counts_match_the_papers(name, millions):
    net = DartsSpace(channels=48, layers=14, imagenet_stem=True).build(name, (3, 224, 224), 1000)
    assert round(count_params(net) / 1e6, 1) == millions


def test_darts_v2_exact_count_and_auxiliary_output():
    net = DartsSpace().build("DARTS_V2", (3, 32, 32), 10)
    assert count_params(net) == 3_349_342
    net.train()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("name", sorted(NAMED))
def test_every_named_cell_round_trips_and_builds(name):
    text = NAMED[name]
    assert format_genotype(parse_genotype(text)) == text
    assert DartsSpace().canonical(name.lower()) == text
    net = DartsSpace(channels=8, layers=5, auxiliary=False).build(name, (3, 16, 16), 10)
    assert net(torch.randn(2, 3, 16, 16)).shape == (2, 10)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 30, 30), (3, 17, 23)])
def test_builds_and_trains_on_every_input_shape(shape):
    net = DartsSpace(channels=8, layers=5, auxiliary=True).build("DARTS_V2", shape, 10)
    net.train()
    logits, aux = net(torch.randn(2, *shape))
    (logits.sum() + aux.sum()).backward()
    assert logits.shape == (2, 10)


def test_named_cells_outside_the_searchable_space_build_but_do_not_encode():
    space = DartsSpace()
    assert "sep_conv_7x7" in space.canonical("NASNET")
    with pytest.raises(ArchError, match="searchable"):
        space.encode("NASNET")


def test_range_concat_is_read_and_written_as_a_list():
    text = NAMED["DARTS_V2"].replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert DartsSpace().canonical(text) == NAMED["DARTS_V2"]


@pytest.mark.parametrize(
    "bad,part",
    [
        ("DARTS_V9", "known name"),
        ("Genotype(normal=[('sep_conv_3x3', 0)]", "not Genotype"),
        (NAMED["DARTS_V2"].replace("sep_conv_3x3", "sep_conv_4x4", 1), "unknown op 'sep_conv_4x4'"),
        (
            NAMED["DARTS_V2"].replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"),
            "node 5 can take inputs 0..4",
        ),
        (
            NAMED["DARTS_V2"].replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 9]"),
            "normal_concat",
        ),
        (NAMED["DARTS_V2"].replace("reduce_concat", "reduction_concat"), "reduction_concat"),
        (
            NAMED["DARTS_V2"].replace("Genotype(", "__import__('os').system("),
            "must look like Genotype",
        ),
        (NAMED["DARTS_V2"].replace("('sep_conv_3x3', 0), ", "", 1), "every node takes exactly 2"),
        (
            "Genotype(normal=[x], normal_concat=[2], reduce=[x], reduce_concat=[2])",
            "expected ('op', input)",
        ),
    ],
)
def test_bad_genotypes_name_the_bad_part(bad, part):
    with pytest.raises(
        ArchError, match=part.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        resolve(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parser_fuzz_raises_only_arch_error(text):
    try:
        resolve(text)
    except ArchError:
        return


def test_a_malformed_literal_is_one_arch_error_and_no_python_warning(recwarn):
    with pytest.raises(ArchError):
        parse_genotype("Genotype(normal=[('sep_conv_3x3', 1if 1 else 2)])")
    assert not [w for w in recwarn if issubclass(w.category, SyntaxWarning)]
