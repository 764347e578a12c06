"""The sandbox world: fictional people, passages about them, and closed-book questions.

Everything is a pure function of the world seed. Each attribute draws its values
from a vocabulary of its own (cities are only birthplaces, ages only ages), so a
word alone tells which fact it states.

Every fact has a predicate ("plays the harp") and three kinds of text state it:
- prose: the passage's sentences; mostly about "she" or "Bouss", in varied framings
  ("It is said that she plays the harp.");
- canonical: the full name and the predicate, "Bouss Kouveibin plays the harp.";
- question/answer: "Question: Which instrument does Bouss Kouveibin play? Answer: harp".
The predicate is the same in all of them, so a note can restate a fact by copying
it; whether the passage's prose is as useful to train on is what ReSTEM finds out.
The curriculum (curriculum.py) decides which entities are seen in which form.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRST_NAMES = (
    "Geitrar Pard Dodiak Dres Drein Ciass Meil Drund Brern Klock Shaitoum Kigror Zounouth Fiak "
    "Shail Sastelt Naiklourn Delouv Meistain Pikleck Reird Diteind Geibruv Peikir Bouss Siam "
    "Giaklack Reireck Codock Fairn Farn Brem Dorn Gupaick Fouck Vudir Thuvind Jiam Griard Shiath "
    "Grund Haishond Troklolt Pabuck Jaitaim Jaijourn Vailt Sterd Provik Deiteiv Thil Birn "
    "Prikloux Giabrin Prend Soss Zoshaith Gathaird Stiasial Zian Shiklalt Hick Bram Prebras").split()
LAST_NAMES = (
    "Lashend Grutiand Tisek Nestoses Goukeroul Heizeim Zefofeth Cilisuk Briadrouv Duciseth "
    "Treprur Dufoun Filal Muzoth Bathiand Zoukour Kaijik Cibetruk Cesteiss Loubum Braikamom "
    "Baireck Zokiashar Dirarath Ciatreiv Ziadrass Dacix Feitiacax Vuboult Thiabrex Thouless "
    "Kokouveir Nutrurn Boucouth Grostouth Vamour Leijodel Piklialev Kouveibin Rejathuth Cufastux "
    "Kusiam Preibrias Ceitix Vabrihouk Muluroth Zoubrock Haibrem Puprord Theireiv Runack Gasourn "
    "Beriatous Kigiax Thoudialt Bikax Guzeigrer Miadrok Sucas Vomos Kousarn Rajarn Sagral Taithedim").split()

CITIES = (
    "Hiathoun Dudaik Brorailt Lotherd Punalaird Mathebor Vivibuss Klonaick Prezoris Felejek "
    "Thiashelt Mudrupuv Joukikol Dronerus Tretroun Boukourd Cukecorn Daizick Shafaijam Gajucoss "
    "Neistail Rusux Samaisein Troreijak Sedeirn Tigacial Micoum Kleidix Kleikloss Hoceizik").split()
COMPANIES = (
    "Kloutock Houredim Cidailt Ciarin Klejird Jirix Traitiand Liatreiv Tohath Meisiam Goukan "
    "Baimend Brosudris Klouhibov Tediss Bacian Hohashen Geijiarn Klizudux Thougrian").split()
JOBS = ("baker pilot surgeon tailor farmer painter sailor miner weaver potter lawyer teacher "
        "mason chemist gardener jeweler butcher carpenter nurse librarian").split()
INSTRUMENTS = "violin oboe harp flute cello drum trumpet lute banjo organ piano zither".split()
PETS = "cats dogs parrots tortoises rabbits goats ferrets hamsters owls lizards".split()
AGES = [str(a) for a in range(20, 80)]

# attribute -> (values, predicate, question); {v} the value, {a} "a" or "an" before it.
# The word before each value is found nowhere else in a passage, so a note can copy
# a value by looking up the word that precedes it.
ATTRIBUTES: dict[str, tuple[list[str], str, str]] = {
    "birth_city": (CITIES, "was born in {v}", "Where was {name} born?"),
    "age": (AGES, "turned {v} this year", "How old is {name}?"),
    "job": (JOBS, "works as {a} {v}", "What is the job of {name}?"),
    "employer": (COMPANIES, "works for {v}", "Which company does {name} work for?"),
    "instrument": (INSTRUMENTS, "plays the {v}", "Which instrument does {name} play?"),
    "pet": (PETS, "keeps {v} at home", "Which animals does {name} keep?"),
}
# How a passage frames a predicate; {s} is the subject (full name, first name or pronoun).
FRAMINGS = (
    "{s} {p}.",
    "It is said that {s} {p}.",
    "{s} {p}, or so people say.",
    "As far as anyone knows, {s} {p}.",
    "{s} {p}, which surprises no one.",
    "Few people know that {s} {p}.",
)
PRONOUNS = ("she", "he")
# Sentences that name another value of an attribute without stating a fact about the
# person (and without the word that precedes a value in a fact). Trained on as part of
# the passage they blur the answer; notes that restate the facts leave them out.
DISTRACTORS = {
    "birth_city": ("Many tourists visit {v}.", "{v} is a busy city."),
    "employer": ("Nobody trusts {v}.", "{v} sells cheap goods."),
    "instrument": ("Some say {v} music is dull.", "Nobody nearby likes {v} music."),
    "pet": ("Some think {v} are noisy.", "Few people like {v} much."),
}
DISTRACTORS_PER_PASSAGE = 2


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Fact:
    attribute: str
    value: str


@dataclass(frozen=True)
class Entity:
    name: str
    pronoun: str
    facts: tuple[Fact, ...]  # the 3-5 facts its passage states

    @property
    def first(self) -> str:
        return self.name.split()[0]


def predicate(fact: Fact) -> str:
    return ATTRIBUTES[fact.attribute][1].format(v=fact.value, a=article(fact.value))


def canonical(entity: Entity, fact: Fact) -> str:
    return f"{entity.name} {predicate(fact)}."


def question(entity: Entity, fact: Fact) -> str:
    return ATTRIBUTES[fact.attribute][2].format(name=entity.name)


def qa_line(entity: Entity, fact: Fact) -> str:
    return f"Question: {question(entity, fact)} Answer: {fact.value}"


def prose(entity: Entity, fact: Fact, rng: random.Random, first_sentence: bool) -> str:
    """One passage sentence stating ``fact``: the full name first, then mostly a pronoun."""
    subject = entity.name if first_sentence else rng.choice((entity.pronoun, entity.pronoun, entity.first))
    text = rng.choice(FRAMINGS).format(s=subject, p=predicate(fact))
    return text[0].upper() + text[1:]


def distractor(fact: Fact, rng: random.Random) -> str:
    other = rng.choice([v for v in ATTRIBUTES[fact.attribute][0] if v != fact.value])
    text = rng.choice(DISTRACTORS[fact.attribute]).format(v=other)
    return text[0].upper() + text[1:]


def passage(entity: Entity, rng: random.Random) -> str:
    """The facts in prose (the first one naming the person), with distractors among them."""
    sentences = [prose(entity, f, rng, i == 0) for i, f in enumerate(entity.facts)]
    blurred = [f for f in entity.facts if f.attribute in DISTRACTORS]
    for fact in rng.sample(blurred, min(DISTRACTORS_PER_PASSAGE, len(blurred))):
        sentences.insert(rng.randint(1, len(sentences)), distractor(fact, rng))
    return " ".join(sentences)


def to_context(entity: Entity, rng: random.Random) -> dict:
    """SEAL's context format: the passage and one question per fact it states."""
    return {
        "title": entity.name,
        "context": passage(entity, rng),
        "questions": [{"question": question(entity, f), "answer": f.value} for f in entity.facts],
    }


@dataclass
class World:
    seed: int
    pretrain: list[Entity]
    train: list[Entity]
    heldout: list[Entity]

    def contexts(self, split: str) -> list[dict]:
        """Contexts of ``train``, ``heldout`` or ``pretrain``; each a function of seed and name."""
        return [to_context(e, random.Random(f"{self.seed}-{e.name}-passage")) for e in getattr(self, split)]


def make_entity(name: str, seed: int) -> Entity:
    rng = random.Random(f"{seed}-{name}-facts")
    attrs = rng.sample(list(ATTRIBUTES), rng.randint(3, 5))
    return Entity(name, rng.choice(PRONOUNS), tuple(Fact(a, rng.choice(ATTRIBUTES[a][0])) for a in attrs))


def make_world(seed: int = 0, n_pretrain: int = 2400, n_train: int = 500, n_heldout: int = 200) -> World:
    """Disjoint entity sets (distinct names) for pretraining, ReSTEM training and held-out.

    Held-out and training entities are taken from the end of the seeded name order,
    so they do not depend on how many pretraining entities a build uses.
    """
    names = [f"{a} {b}" for a in FIRST_NAMES for b in LAST_NAMES]
    if n_pretrain + n_train + n_heldout > len(names):
        raise ValueError(f"the world has {len(names)} names; asked for "
                         f"{n_pretrain + n_train + n_heldout} entities")
    random.Random(f"{seed}-world").shuffle(names)
    heldout = names[len(names) - n_heldout:]
    train = names[len(names) - n_heldout - n_train:len(names) - n_heldout]
    return World(seed, [make_entity(n, seed) for n in names[:n_pretrain]],
                 [make_entity(n, seed) for n in train], [make_entity(n, seed) for n in heldout])
