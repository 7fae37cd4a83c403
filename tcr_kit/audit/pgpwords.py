"""Fingerprints people read aloud: SHA-256 as hex and as PGP words.

The PGP word list (Juola and Zimmermann, 1995) is two lists of 256 words each. A byte at an
even position (0, 2, 4, ...) is spoken with the word of the same value from the
two-syllable list, a byte at an odd position with the word from the three-syllable list, so
a dropped or swapped word is heard. IANA's ``kskm`` tooling prints file hashes this way
(its ``sha2wordlist`` command: ``SHA-256:`` hex then ``PGP Words:`` the words joined by one
space); :func:`pgp_words` produces exactly the same words, spelling and capitals included.

The lists below are facts transcribed from the published PGP word list; a test checks each
list is 256 distinct words in alphabetical order and checks public examples.
"""

from __future__ import annotations

import hashlib

_EVEN = """
aardvark absurd accrue acme adrift adult afflict ahead aimless Algol allow alone ammo
ancient apple artist assume Athens atlas Aztec baboon backfield backward banjo beaming
bedlamp beehive beeswax befriend Belfast berserk billiard bison blackjack blockade blowtorch
bluebird bombast bookshelf brackish breadline breakup brickyard briefcase Burbank button
buzzard cement chairlift chatter checkup chisel choking chopper Christmas clamshell classic
classroom cleanup clockwork cobra commence concert cowbell crackdown cranky crowfoot crucial
crumpled crusade cubic dashboard deadbolt deckhand dogsled dragnet drainage dreadful drifter
dropper drumbeat drunken Dupont dwelling eating edict egghead eightball endorse endow enlist
erase escape exceed eyeglass eyetooth facial fallout flagpole flatfoot flytrap fracture
framework freedom frighten gazelle Geiger glitter glucose goggles goldfish gremlin guidance
hamlet highchair hockey indoors indulge inverse involve island jawbone keyboard kickoff kiwi
klaxon locale lockup merit minnow miser Mohawk mural music necklace Neptune newborn nightbird
Oakland obtuse offload optic orca payday peachy pheasant physique playhouse Pluto preclude
prefer preshrunk printer prowler pupil puppy python quadrant quiver quota ragtime ratchet
rebirth reform regain reindeer rematch repay retouch revenge reward rhythm ribcage ringbolt
robust rocker ruffled sailboat sawdust scallion scenic scorecard Scotland seabird select
sentence shadow shamrock showgirl skullcap skydive slingshot slowdown snapline snapshot
snowcap snowslide solo southward soybean spaniel spearhead spellbind spheroid spigot spindle
spyglass stagehand stagnate stairway standard stapler steamship sterling stockman stopwatch
stormy sugar surmount suspense sweatband swelter tactics talon tapeworm tempest tiger tissue
tonic topmost tracker transit trauma treadmill Trojan trouble tumor tunnel tycoon uncut
unearth unwind uproot upset upshot vapor village virus Vulcan waffle wallet watchword wayside
willow woodlark Zulu
"""

_ODD = """
adroitness adviser aftermath aggregate alkali almighty amulet amusement antenna applicant
Apollo armistice article asteroid Atlantic atmosphere autopsy Babylon backwater barbecue
belowground bifocals bodyguard bookseller borderline bottomless Bradbury bravado Brazilian
breakaway Burlington businessman butterfat Camelot candidate cannonball Capricorn caravan
caretaker celebrate cellulose certify chambermaid Cherokee Chicago clergyman coherence
combustion commando company component concurrent confidence conformist congregate consensus
consulting corporate corrosion councilman crossover crucifix cumbersome customer Dakota
decadence December decimal designing detector detergent determine dictator dinosaur
direction disable disbelief disruptive distortion document embezzle enchanting enrollment
enterprise equation equipment escapade Eskimo everyday examine existence exodus fascinate
filament finicky forever fortitude frequency gadgetry Galveston getaway glossary gossamer
graduate gravity guitarist hamburger Hamilton handiwork hazardous headwaters hemisphere
hesitate hideaway holiness hurricane hydraulic impartial impetus inception indigo inertia
infancy inferno informant insincere insurgent integrate intention inventive Istanbul Jamaica
Jupiter leprosy letterhead liberty maritime matchmaker maverick Medusa megaton microscope
microwave midsummer millionaire miracle misnomer molasses molecule Montana monument mosquito
narrative nebula newsletter Norwegian October Ohio onlooker opulent Orlando outfielder
Pacific pandemic Pandora paperweight paragon paragraph paramount passenger pedigree Pegasus
penetrate perceptive performance pharmacy phonetic photograph pioneer pocketful politeness
positive potato processor provincial proximate puberty publisher pyramid quantity racketeer
rebellion recipe recover repellent replica reproduce resistor responsive retraction
retrieval retrospect revenue revival revolver sandalwood sardonic Saturday savagery
scavenger sensation sociable souvenir specialist speculate stethoscope stupendous supportive
surrender suspicious sympathy tambourine telephone therapist tobacco tolerance tomorrow
torpedo tradition travesty trombonist truncated typewriter ultimate undaunted underfoot
unicorn unify universe unravel upcoming vacancy vagabond vertigo Virginia visitor vocalist
voyager warranty Waterloo whimsical Wichita Wilmington Wyoming yesteryear Yucatan
"""

EVEN_WORDS: tuple[str, ...] = tuple(_EVEN.split())
"""Two-syllable words, spoken for bytes at even positions (0, 2, ...)."""

ODD_WORDS: tuple[str, ...] = tuple(_ODD.split())
"""Three-syllable words, spoken for bytes at odd positions (1, 3, ...)."""

if len(EVEN_WORDS) != 256 or len(ODD_WORDS) != 256:  # pragma: no cover - import-time guard
    raise RuntimeError("PGP word list must have 256 words in each half")


def pgp_words(data: bytes) -> list[str]:
    """The PGP words of ``data``: even positions from the two-syllable list, odd from the
    three-syllable list (identical to kskm's ``pgp_wordlist``)."""
    return [(ODD_WORDS if i % 2 else EVEN_WORDS)[b] for i, b in enumerate(data)]


def words_to_bytes(words: list[str] | str) -> bytes:
    """Inverse of :func:`pgp_words` (case-insensitive); raises ``ValueError`` on a word that
    is not in the list for its position."""
    items = words.split() if isinstance(words, str) else list(words)
    even = {w.lower(): i for i, w in enumerate(EVEN_WORDS)}
    odd = {w.lower(): i for i, w in enumerate(ODD_WORDS)}
    out = bytearray()
    for i, word in enumerate(items):
        table = odd if i % 2 else even
        try:
            out.append(table[word.lower()])
        except KeyError:
            kind = "three-syllable" if i % 2 else "two-syllable"
            raise ValueError(f"word {i + 1} {word!r} is not in the {kind} PGP list") from None
    return bytes(out)


def fingerprint(data: bytes) -> tuple[str, str]:
    """``(hex, words)`` of the SHA-256 of ``data``, as kskm's ``sha2wordlist`` shows them:
    lower-case hex, and the PGP words joined by single spaces."""
    digest = hashlib.sha256(data).digest()
    return digest.hex(), " ".join(pgp_words(digest))


def digest_words(digest: bytes) -> tuple[str, str]:
    """``(hex, words)`` of an already computed digest (for example a chain head)."""
    return digest.hex(), " ".join(pgp_words(digest))
