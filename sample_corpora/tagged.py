"""Generate ``tagged.conll``: sentences with a part of speech and a named-entity tag for every token.

Its job: write CoNLL columns ``token POS NER`` (a blank line between sentences, ``-DOCSTART- -X- O``
first), expanding a small grammar over generate.py's lexicon that knows each word's class as it
places it: POS is a UPOS-like tag, NER an IOB2 tag for invented persons (PER), places (LOC),
organisations (ORG, most of them several words long) and dates (TIME), as in the lecture's
"[Jim]_{Person} bought 300 shares of [Acme Corp.]_{Organization} in [2006]_{Time}". Some words need
their context: a noun in one sentence is a verb in another ("the saw" / "she saw", "a rose" / "the
sun rose"), one invented name is a person, a place and part of an organisation, "May" is a person,
a month and (as "may") a modal, and a count and a year are both numbers.

Standard library only; the lexicon is generate.py's, loaded by path; called from there.
"""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

_spec = importlib.util.spec_from_file_location("sample_corpora_generate", Path(__file__).with_name("generate.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

SENTENCES = 3500
DOCSTART = "-DOCSTART- -X- O"
POS_TAGS = "ADJ ADP ADV AUX CCONJ DET NOUN NUM PART PRON PROPN PUNCT SCONJ VERB".split()
ENTITY_TYPES = ("PER", "LOC", "ORG", "TIME")
MONTHS = "January February March April May June July August September October November December".split()
WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
WORD_NAMES = "Rose Robin Wren Hazel Holly Ivy Heather Bill Will May Mark Reed".split()  # also common words
SURNAMES = "Miller Baker Weaver Potter Smith Shepherd Hunter Carpenter Mason Thatcher Cook Brewer".split()
LOC_WORDS = "Hill Ford Bridge Cross Green Marsh Wood Vale Harbour Heath Hollow Mill".split()
LOC_PREFIXES = "Upper Lower North South East West Little Great".split()
GUILDS = "miller baker weaver potter smith fisherman/fishermen carpenter mason brewer tailor".split()
# Words that are nouns in one place and verbs in another, added to the lexicon's nouns and verbs.
AMBIGUOUS_NOUNS = "saw watch trap plant fish/fish holly ivy heather reed".split()
AMBIGUOUS_VERBS = "hammer comb lock brush nail fish leave/left/left".split()
AMBIGUOUS_VERBS_I = "whistle sail paddle rise/rose/risen".split()
DETS = ["the"] * 6 + ["a"] * 3 + "this that every some my his her our their".split()
POSSESSIVES = {"my", "his", "her", "our", "their"}  # UD tags these PRON
PRONOUNS = {"I": ("me", "i"), "you": ("you", "p"), "he": ("him", "s"), "she": ("her", "s"), "it": ("it", "s"),
            "we": ("us", "p"), "they": ("them", "p")}  # subject -> (object, agreement)
BE = {"s": ("was", "is"), "i": ("was", "am"), "p": ("were", "are")}  # agreement: he runs, I run, they run
MODALS = "will would can could must may might should".split()


def words(text, pos):
    """Tokens outside any entity, all of one part of speech."""
    return [(w, pos, "O") for w in text.split()]


def entity(kind, pairs):
    """An entity's (word, POS) pairs tagged IOB2: B- on the first word, I- on the rest."""
    return [(w, p, ("B-" if i == 0 else "I-") + kind) for i, (w, p) in enumerate(pairs)]


class TagGrammar:
    def __init__(self, rng):
        self.rng = rng
        self.names = gen.Pool([n for n, _ in gen.make_names(rng, 400)])
        self.animals, self.people = gen.Pool(gen.nouns(gen.ANIMALS)), gen.Pool(gen.nouns(gen.PEOPLE))
        self.things = gen.Pool(gen.nouns(gen.OBJECTS + gen.FOODS))
        self.amb_nouns = gen.Pool(gen.nouns(AMBIGUOUS_NOUNS + ["rose", "leaf/leaves", "whistle", "sail"]), s=0.3)
        self.places, self.adjs, self.advs = gen.Pool(gen.PLACES), gen.Pool(gen.ADJS), gen.Pool(gen.ADVS)
        self.vi, self.vt = gen.Pool(gen.verbs(gen.VERBS_I)), gen.Pool(gen.verbs(gen.VERBS_T))
        self.amb_vt = gen.Pool(gen.verbs(AMBIGUOUS_VERBS + ["watch", "plant", "trap", "share"]), s=0.3)
        self.amb_vi = gen.Pool(gen.verbs(AMBIGUOUS_VERBS_I), s=0.3)
        self.motion = gen.Pool([v for v in gen.verbs(gen.VERBS_I) if v["base"] in gen.MOTION])
        self.trades = [(sing.capitalize(), plural.capitalize()) for sing, plural, _ in gen.nouns(GUILDS)]

    def chance(self, p):
        return self.rng.random() < p

    def pick(self, items):
        return self.rng.choice(items)

    # -- entities ------------------------------------------------------------------------------
    def proper(self):
        """An invented name, or now and then one that is also a common word ("Rose", "May")."""
        return self.pick(WORD_NAMES) if self.chance(0.15) else self.names(self.rng)

    def person(self):
        pairs = [(self.proper(), "PROPN")]
        if self.chance(0.35):
            pairs.append((self.pick(SURNAMES) if self.chance(0.5) else self.names(self.rng), "PROPN"))
        return entity("PER", pairs)

    def place(self):
        r, name = self.rng.random(), self.proper()
        if r < 0.5:
            return entity("LOC", [(name, "PROPN")])
        if r < 0.85:
            return entity("LOC", [(name, "PROPN"), (self.pick(LOC_WORDS), "PROPN")])
        return entity("LOC", [(self.pick(LOC_PREFIXES), "PROPN"), (name, "PROPN")])

    def org(self):
        """An organisation, with its "the" (outside the entity) where English puts one."""
        r, name, the = self.rng.random(), self.proper(), words("the", "DET")
        if r < 0.25:  # the Guild of Weavers
            return the + entity("ORG", [("Guild", "PROPN"), ("of", "ADP"), (self.pick(self.trades)[1], "PROPN")])
        if r < 0.4:  # the Bank of Dunmor
            return the + entity("ORG", [(self.pick(["Bank", "Company", "Society"]), "PROPN"), ("of", "ADP"),
                                        (name, "PROPN")])
        if r < 0.6:  # the Dunmor Lantern Company
            thing = self.things(self.rng)[0].capitalize()
            return the + entity("ORG", [(name, "PROPN"), (thing, "PROPN"), ("Company", "PROPN")])
        if r < 0.75:  # Dunmor and Sons
            return entity("ORG", [(name, "PROPN"), ("and", "CCONJ"), ("Sons", "PROPN")])
        if r < 0.9:  # Dunmor Brothers
            return entity("ORG", [(name, "PROPN"), ("Brothers", "PROPN")])
        sing = self.pick(self.trades)[0]  # the Miller 's Guild
        return the + entity("ORG", [(sing, "PROPN"), ("'s", "PART"), ("Guild", "PROPN")])

    def when(self):
        """A date with its preposition: 'in 1642', 'in May 1642', 'on 3 March', 'on Monday'."""
        rng = self.rng
        year, month, day = (str(rng.randint(1200, 1899)), "NUM"), (self.pick(MONTHS), "PROPN"), \
            (str(rng.randint(1, 28)), "NUM")
        form = rng.choice(["year", "year", "month", "month year", "day month", "day month year", "weekday"])
        pairs = {"year": [year], "month": [month], "month year": [month, year], "day month": [day, month],
                 "day month year": [day, month, year], "weekday": [(self.pick(WEEKDAYS), "PROPN")]}[form]
        return words("in" if form.startswith(("year", "month")) else "on", "ADP") + entity("TIME", pairs)

    def count(self):
        """A number that is not a date: 'twelve', '7', '300', sometimes as big as a year."""
        r = self.rng.random()
        n = self.pick(gen.NUMBERS) if r < 0.4 else str(self.rng.randint(2, 99 if r < 0.7 else 1999))
        return words(n, "NUM")

    # -- noun phrases --------------------------------------------------------------------------
    def common(self, living, plural):
        """DET [ADJ] NOUN: 'the grey fox', 'her saw', 'some plums'."""
        rng = self.rng
        pool = rng.choice([self.animals, self.people]) if living else \
            self.amb_nouns if self.chance(0.25) else self.things
        det = self.pick(["the", "the", "some", "those", "these", "their", "no"] if plural else DETS)
        out = words(det, "PRON" if det in POSSESSIVES else "DET")
        out += words(self.adjs(rng), "ADJ") if self.chance(0.3) else []
        return out + words(pool(rng)[plural], "NOUN")

    def subject(self, depth=0):
        """A subject and its agreement: "s" (he runs, is), "i" (I run, am) or "p" (they run, are)."""
        rng, r = self.rng, self.rng.random()
        if r < 0.3:
            return self.person(), "s"
        if r < 0.55:
            plural = self.chance(0.3)
            out = self.common(True, plural)
            if depth == 0 and self.chance(0.12):  # the fox that ran to the mill
                out += words(self.pick(["that", "who"]), "PRON") + self.predicate("sp"[plural], "past", 1)
            return out, "sp"[plural]
        if r < 0.7:
            pron = self.pick(list(PRONOUNS))
            return words(pron, "PRON"), PRONOUNS[pron][1]
        if r < 0.8:  # the clerk of the Guild of Weavers, the mayor of Dunmor
            head = words("the", "DET") + words(self.people(rng)[0], "NOUN") + words("of", "ADP")
            return head + (self.org() if self.chance(0.5) else self.place()), "s"
        if r < 0.9:
            return self.org(), "s"
        return words("the", "DET") + words(self.pick(["people", "children"]), "NOUN") + \
            words("of", "ADP") + self.place(), "p"

    def object(self):
        rng, r = self.rng, self.rng.random()
        if r < 0.35:
            return self.common(False, self.chance(0.3))
        if r < 0.5:
            return self.common(True, self.chance(0.3))
        if r < 0.65:
            return self.person()
        if r < 0.75:
            return words(PRONOUNS[self.pick(list(PRONOUNS))][0], "PRON")
        if r < 0.85:  # the miller 's saw, Dunmor 's cheese
            owner = self.person() if self.chance(0.5) else words("the", "DET") + words(self.people(rng)[0], "NOUN")
            return owner + words("'s", "PART") + words(self.things(rng)[0], "NOUN")
        return self.count() + words(self.things(rng)[1], "NOUN")

    def adjunct(self):
        """A prepositional phrase: a common place, a named one, a date, a person or a firm."""
        rng, r = self.rng, self.rng.random()
        if r < 0.35:
            return words(self.pick("in near by behind under".split()), "ADP") + words("the", "DET") + \
                words(self.places(rng), "NOUN")
        if r < 0.6:
            return words(self.pick("in near at from".split()), "ADP") + self.place()
        if r < 0.85:
            return self.when()
        return words(self.pick(["for", "with"]), "ADP") + (self.org() if self.chance(0.5) else self.person())

    # -- verbs and clauses ---------------------------------------------------------------------
    def verb(self, v, tense, agr, neg=False):
        """One verb (a dict from generate.verbs) conjugated, its auxiliaries tagged AUX."""
        no = words(self.pick(["not", "n't"]), "PART") if neg else []
        if tense == "modal":
            return words(self.pick(MODALS), "AUX") + no + words(v["base"], "VERB")
        if tense == "perf":
            return words(self.pick(["has" if agr == "s" else "have", "had"]), "AUX") + no + words(v["part"], "VERB")
        if tense == "prog":
            return words(self.pick(BE[agr]), "AUX") + no + words(v["ing"], "VERB")
        if neg:
            do = "did" if tense == "past" else "does" if agr == "s" else "do"
            return words(do, "AUX") + no + words(v["base"], "VERB")
        return words(v["past"] if tense == "past" else v["s"] if agr == "s" else v["base"], "VERB")

    def predicate(self, agr, tense, depth=0):
        rng, neg = self.rng, self.chance(0.1)
        kind = rng.choices(["intr", "trans", "go", "be", "firm", "born", "want", "have"],
                           [5, 8, 3, 3, 2, 1, 1, 1])[0]
        if kind == "intr":
            out = self.verb((self.amb_vi if self.chance(0.2) else self.vi)(rng), tense, agr, neg)
            out += words(self.advs(rng), "ADV") if self.chance(0.3) else []
            return out + (self.adjunct() if depth < 2 and self.chance(0.5) else [])
        if kind == "trans":
            out = self.verb((self.amb_vt if self.chance(0.2) else self.vt)(rng), tense, agr, neg)
            return out + self.object() + (self.adjunct() if depth < 2 and self.chance(0.35) else [])
        if kind == "go":
            out = self.verb(self.motion(rng), tense, agr, neg) + words(self.pick(["to", "toward", "past"]), "ADP")
            return out + (self.place() if self.chance(0.6) else words("the", "DET") + words(self.places(rng), "NOUN"))
        if kind == "be":  # the fox was not very clever
            be = self.pick(BE[agr])
            out = words(be, "AUX") + (words("not", "PART") if neg else [])
            out += words(self.pick(["very", "so", "too", "quite"]), "ADV") if self.chance(0.3) else []
            return out + words(self.adjs(rng), "ADJ")
        if kind == "firm":  # joined the Guild of Weavers, worked for Dunmor and Sons
            verb = self.pick([("joined", ""), ("left", ""), ("founded", ""), ("worked", "for"), ("wrote", "to")])
            return words(verb[0], "VERB") + words(verb[1], "ADP") + self.org()
        if kind == "born":
            out = words(BE[agr][0], "AUX") + words("born", "VERB") + words("in", "ADP")
            return out + self.place() + (self.when() if self.chance(0.5) else [])
        if kind == "want":  # wanted to lock the gate
            return words(self.pick(["wanted", "tried", "hoped", "meant"]), "VERB") + words("to", "PART") + \
                words((self.amb_vt if self.chance(0.4) else self.vt)(rng)["base"], "VERB") + self.object()
        return words("had", "VERB") + self.object()  # had as a main verb, as against "had taken"

    def clause(self, depth=0):
        subj, agr = self.subject(depth)
        tense = self.rng.choice(["past", "past", "past", "pres", "modal", "perf", "prog"])
        return subj + self.predicate(agr, tense, depth)

    def question(self):
        r = self.rng.random()
        if r < 0.5:  # Will the miller lock the gate ?
            aux = words(self.pick(["Will", "Did", "Can", "Could", "Should"]), "AUX")
            verb = (self.amb_vt if self.chance(0.3) else self.vt)(self.rng)["base"]
            return aux + self.subject(1)[0] + words(verb, "VERB") + self.object() + words("?", "PUNCT")
        if r < 0.7:
            return words("Where", "ADV") + words("did", "AUX") + self.person() + words("go", "VERB") + \
                words("?", "PUNCT")
        if r < 0.85:
            return words("Who", "PRON") + words(self.pick(["founded", "joined", "left"]), "VERB") + self.org() + \
                words("?", "PUNCT")
        return words("When", "ADV") + words("was", "AUX") + self.person() + words("born", "VERB") + \
            words("?", "PUNCT")

    def sentence(self):
        r = self.rng.random()
        if r < 0.34:
            out = self.clause()
        elif r < 0.46:  # the fox ran , but the hen stayed
            out = self.clause() + words(",", "PUNCT") + words(self.pick(["and", "but", "so", "or"]), "CCONJ") + \
                self.clause(1)
        elif r < 0.58:  # when the fox ran , the hen stayed
            sconj = self.pick("when after before because while although if".split())
            out = words(sconj, "SCONJ") + self.clause(1) + words(",", "PUNCT") + self.clause(1)
        elif r < 0.66:  # the miller said that ...
            out = self.subject(1)[0] + words(self.pick(["said", "thought", "knew", "heard"]), "VERB") + \
                words("that", "SCONJ") + self.clause(1)
        elif r < 0.72:  # the lecture's Jim bought 300 shares of Acme Corp. in 2006
            goods = self.pick(["shares", "shares", "barrels", "sacks", "bales"])
            out = self.person() + words(self.pick(["bought", "sold"]), "VERB") + self.count() + \
                words(goods, "NOUN") + words("of", "ADP") + self.org() + self.when()
        elif r < 0.8:  # In May 1642 , ...
            out = self.when() + words(",", "PUNCT") + self.clause(1)
        elif r < 0.86:  # There were three geese in Dunmor .
            plural = self.chance(0.5)
            out = words("there", "PRON") + words("were" if plural else "was", "VERB") + \
                self.common(True, plural) + self.adjunct()
        elif r < 0.9:  # Holly grew by the wall (holly the plant, not Holly the person)
            plant = self.pick(["holly", "ivy", "heather", "reed", "hazel"])
            out = words(plant, "NOUN") + words("grew", "VERB") + words(self.pick(["thick", "wild", "tall"]), "ADJ") + \
                self.adjunct()
        else:
            return articles(self.question())
        return articles(out + words(".", "PUNCT"))


def articles(tokens):
    """'a owl' -> 'an owl', and a capital letter on the first word."""
    vowel = [w.lower().startswith(("a", "e", "i", "o", "u", "hon")) for w, _, _ in tokens[1:]] + [False]
    out = [(w + "n" if w.lower() == "a" and vowel[i] else w, p, n) for i, (w, p, n) in enumerate(tokens)]
    first, pos, ner = out[0]
    return [(first[0].upper() + first[1:], pos, ner)] + out[1:]


def make_tagged(seed):
    grammar = TagGrammar(random.Random(seed))
    blocks = ["\n".join(" ".join(t) for t in grammar.sentence()) for _ in range(SENTENCES)]
    return DOCSTART + "\n\n" + "\n\n".join(blocks) + "\n"
