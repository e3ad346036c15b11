"""The papers a report cites, as BibTeX: the methods it draws (rollout, artifact tokens, relevance,
faithfulness) and the models it knows the papers of.

The shared prose links each method to its paper's arXiv page (``m.link``); a flavour with
citations (distill) turns the links whose address is a paper's here into citations, and writes
the entries its page cites (:func:`bibtex`). Everything here is fixed text, no user input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reportgen.record import ModelSummary


@dataclass(frozen=True)
class Paper:
    """One paper: its BibTeX key and type, its fields in order, and the address the report's
    prose links it by."""

    key: str
    kind: str  # article, inproceedings
    fields: tuple[tuple[str, str], ...]
    url: str

    def bibtex(self) -> str:
        lines = [f"  {name} = {{{value}}}," for name, value in (*self.fields, ("url", self.url))]
        return "@" + self.kind + "{" + self.key + ",\n" + "\n".join(lines) + "\n}\n"


PAPERS = (
    Paper(
        "abnar2020quantifying",
        "inproceedings",
        (
            ("title", "Quantifying Attention Flow in Transformers"),
            ("author", "Abnar, Samira and Zuidema, Willem"),
            (
                "booktitle",
                "Proceedings of the 58th Annual Meeting of the Association for Computational "
                "Linguistics",
            ),
            ("pages", "4190--4197"),
            ("year", "2020"),
        ),
        "https://arxiv.org/abs/2005.00928",
    ),
    Paper(
        "darcet2024vision",
        "inproceedings",
        (
            ("title", "Vision Transformers Need Registers"),
            (
                "author",
                "Darcet, Timoth{\\'e}e and Oquab, Maxime and Mairal, Julien and Bojanowski, Piotr",
            ),
            ("booktitle", "The Twelfth International Conference on Learning Representations"),
            ("year", "2024"),
        ),
        "https://arxiv.org/abs/2309.16588",
    ),
    Paper(
        "chefer2021transformer",
        "inproceedings",
        (
            ("title", "Transformer Interpretability Beyond Attention Visualization"),
            ("author", "Chefer, Hila and Gur, Shir and Wolf, Lior"),
            (
                "booktitle",
                "Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern "
                "Recognition (CVPR)",
            ),
            ("pages", "782--791"),
            ("year", "2021"),
        ),
        "https://arxiv.org/abs/2103.15679",
    ),
    Paper(
        "petsiuk2018rise",
        "inproceedings",
        (
            ("title", "RISE: Randomized Input Sampling for Explanation of Black-box Models"),
            ("author", "Petsiuk, Vitali and Das, Abir and Saenko, Kate"),
            ("booktitle", "Proceedings of the British Machine Vision Conference (BMVC)"),
            ("year", "2018"),
        ),
        "https://arxiv.org/abs/1806.07421",
    ),
    Paper(
        "dosovitskiy2021image",
        "inproceedings",
        (
            (
                "title",
                "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
            ),
            (
                "author",
                "Dosovitskiy, Alexey and Beyer, Lucas and Kolesnikov, Alexander and "
                "Weissenborn, Dirk and Zhai, Xiaohua and Unterthiner, Thomas and Dehghani, "
                "Mostafa and Minderer, Matthias and Heigold, Georg and Gelly, Sylvain and "
                "Uszkoreit, Jakob and Houlsby, Neil",
            ),
            ("booktitle", "International Conference on Learning Representations"),
            ("year", "2021"),
        ),
        "https://arxiv.org/abs/2010.11929",
    ),
    Paper(
        "touvron2021training",
        "inproceedings",
        (
            (
                "title",
                "Training Data-Efficient Image Transformers {\\&} Distillation through Attention",
            ),
            (
                "author",
                "Touvron, Hugo and Cord, Matthieu and Douze, Matthijs and Massa, Francisco and "
                "Sablayrolles, Alexandre and J{\\'e}gou, Herv{\\'e}",
            ),
            ("booktitle", "Proceedings of the 38th International Conference on Machine Learning"),
            ("series", "Proceedings of Machine Learning Research"),
            ("volume", "139"),
            ("pages", "10347--10357"),
            ("year", "2021"),
        ),
        "https://arxiv.org/abs/2012.12877",
    ),
    Paper(
        "caron2021emerging",
        "inproceedings",
        (
            ("title", "Emerging Properties in Self-Supervised Vision Transformers"),
            (
                "author",
                "Caron, Mathilde and Touvron, Hugo and Misra, Ishan and J{\\'e}gou, Herv{\\'e} "
                "and Mairal, Julien and Bojanowski, Piotr and Joulin, Armand",
            ),
            (
                "booktitle",
                "Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)",
            ),
            ("pages", "9650--9660"),
            ("year", "2021"),
        ),
        "https://arxiv.org/abs/2104.14294",
    ),
    Paper(
        "oquab2024dinov2",
        "article",
        (
            ("title", "{DINOv2}: Learning Robust Visual Features without Supervision"),
            (
                "author",
                "Oquab, Maxime and Darcet, Timoth{\\'e}e and Moutakanni, Th{\\'e}o and Vo, Huy "
                "V. and Szafraniec, Marc and Khalidov, Vasil and Fernandez, Pierre and Haziza, "
                "Daniel and Massa, Francisco and El-Nouby, Alaaeldin and Assran, Mahmoud and "
                "Ballas, Nicolas and Galuba, Wojciech and Howes, Russell and Huang, Po-Yao and "
                "Li, Shang-Wen and Misra, Ishan and Rabbat, Michael and Sharma, Vasu and "
                "Synnaeve, Gabriel and Xu, Hu and J{\\'e}gou, Herv{\\'e} and Mairal, Julien and "
                "Labatut, Patrick and Joulin, Armand and Bojanowski, Piotr",
            ),
            ("journal", "Transactions on Machine Learning Research"),
            ("note", "arXiv:2304.07193 (2023)"),
            ("year", "2024"),
        ),
        "https://arxiv.org/abs/2304.07193",
    ),
    Paper(
        "bao2022beit",
        "inproceedings",
        (
            ("title", "{BEiT}: {BERT} Pre-Training of Image Transformers"),
            ("author", "Bao, Hangbo and Dong, Li and Piao, Songhao and Wei, Furu"),
            ("booktitle", "International Conference on Learning Representations"),
            ("year", "2022"),
        ),
        "https://arxiv.org/abs/2106.08254",
    ),
)
BY_KEY = {paper.key: paper for paper in PAPERS}
BY_URL = {paper.url: paper for paper in PAPERS}
# A model's paper by its family (config.model_type), after the checks on its id below.
_FAMILY_PAPERS = {
    "vit": "dosovitskiy2021image",
    "deit": "touvron2021training",
    "dinov2": "oquab2024dinov2",
    "dinov2_with_registers": "darcet2024vision",
    "beit": "bao2022beit",
}


def model_paper(model: ModelSummary) -> Paper | None:
    """The paper of the report's model when known: DINO (v1) and DeiT checkpoints by their hub
    ids (their configs say ``vit``), every other by its family; None for an unknown one."""
    model_id = model.model_id.lower()
    if "/dino-vit" in model_id:
        return BY_KEY["caron2021emerging"]
    if "/deit-" in model_id:
        return BY_KEY["touvron2021training"]
    key = _FAMILY_PAPERS.get(model.family)
    return BY_KEY[key] if key else None


def bibtex(keys: Iterable[str]) -> str:
    """The BibTeX entries of ``keys`` (known papers' keys), each once, in the order given."""
    return "\n".join(BY_KEY[key].bibtex() for key in dict.fromkeys(keys))
