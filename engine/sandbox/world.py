"""The sandbox world: fictional people, passages about them, and closed-book questions.

Everything is a pure function of the world seed. Each attribute draws its values
from a vocabulary of its own (cities are only birthplaces, years only birth years),
so a note-writer can tell which fact a word states by the word alone.

Three kinds of text describe one fact:
- prose: the passage's varied sentences (one template in four is the canonical one);
- canonical: the one statement form, e.g. "Pard Tisek was born in Dudaik.";
- question/answer: "Question: Where was Pard Tisek born? Answer: Dudaik".
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
PETS = "cat dog parrot tortoise rabbit goat ferret hamster owl lizard".split()
YEARS = [str(y) for y in range(1940, 2000)]

# attribute -> (values, canonical statement, question, prose templates)
# {name} is the full name, {ref} the full or first name, {v} the value, {a} "a" or "an".
ATTRIBUTES: dict[str, tuple[list[str], str, str, list[str]]] = {
    "birth_city": (CITIES, "{name} was born in {v}.", "Where was {name} born?", [
        "{ref} grew up in {v}, the city of {ref}'s birth.",
        "The city of {v} is where {ref} was born.",
        "{ref} came into the world in {v}.",
    ]),
    "birth_year": (YEARS, "{name} was born in {v}.", "In what year was {name} born?", [
        "The year {v} saw the birth of {ref}.",
        "{ref} arrived in {v}, a cold year.",
        "{ref}'s life began in {v}.",
    ]),
    "job": (JOBS, "{name} works as {a} {v}.", "What is the job of {name}?", [
        "By trade, {ref} is {a} {v}.",
        "{ref} earns a living as {a} {v}.",
        "Most days {ref} does the work of {a} {v}.",
    ]),
    "employer": (COMPANIES, "{name} works for {v}.", "Which company does {name} work for?", [
        "{ref} is employed by {v}.",
        "The firm {v} pays the wages of {ref}.",
        "Every morning {ref} goes to the offices of {v}.",
    ]),
    "instrument": (INSTRUMENTS, "{name} plays the {v}.", "Which instrument does {name} play?", [
        "In the evenings {ref} practises the {v}.",
        "{ref} has learned to play the {v}.",
        "Music for {ref} means the {v}.",
    ]),
    "pet": (PETS, "{name} has a pet {v}.", "What pet does {name} have?", [
        "At home {ref} keeps {a} {v}.",
        "{ref} looks after {a} {v} as a pet.",
        "{ref}'s companion is {a} {v}.",
    ]),
}
CANONICAL_SHARE = 0.25  # how often a passage states a fact in the canonical form


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


@dataclass(frozen=True)
class Fact:
    attribute: str
    value: str


@dataclass(frozen=True)
class Entity:
    name: str
    facts: tuple[Fact, ...]  # the 3-5 facts its passage states

    @property
    def first(self) -> str:
        return self.name.split()[0]


def canonical(entity: Entity, fact: Fact) -> str:
    template = ATTRIBUTES[fact.attribute][1]
    return template.format(name=entity.name, v=fact.value, a=article(fact.value))


def question(entity: Entity, fact: Fact) -> str:
    return ATTRIBUTES[fact.attribute][2].format(name=entity.name)


def qa_line(entity: Entity, fact: Fact) -> str:
    return f"Question: {question(entity, fact)} Answer: {fact.value}"


def prose(entity: Entity, fact: Fact, rng: random.Random, first_sentence: bool) -> str:
    """One passage sentence stating ``fact``; the canonical form a quarter of the time."""
    if rng.random() < CANONICAL_SHARE:
        return canonical(entity, fact)
    template = rng.choice(ATTRIBUTES[fact.attribute][3])
    ref = entity.name if first_sentence or rng.random() < 0.5 else entity.first
    text = template.format(ref=ref, name=entity.name, v=fact.value, a=article(fact.value))
    return text[0].upper() + text[1:]


def passage(entity: Entity, rng: random.Random) -> str:
    sentences = [prose(entity, f, rng, i == 0) for i, f in enumerate(entity.facts)]
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
    return Entity(name, tuple(Fact(a, rng.choice(ATTRIBUTES[a][0])) for a in attrs))


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
