"""Generate ``sentiment.tsv``: sentences labelled pos or neg by rules a classifier must read in order.

Its job: write ``label<TAB>text`` lines whose label follows from four rules (README.md states them):
every sentence holds one or two judgements, each with exactly one sentiment word (an adjective or an
experiencer verb, polarity from the lists below; every other word is neutral); a negator ("not",
"n't", "never") before the sentiment word in its clause flips it and intensifiers between change
nothing; in "A , but B" and "although A , B" the clause B decides, in "A , although B" the clause A
does, in "A , and B" both agree; and neutral narration from generate.py's words.txt grammar (with a
neutral vocabulary) may follow the deciding judgement (the cue comes early) or precede it. The
label is chosen first and the words are chosen to produce it, so the classes are exactly balanced.

Standard library only; the lexicon and grammar are generate.py's, loaded by path; called from there.
"""
from __future__ import annotations

import importlib.util
import random
from pathlib import Path

_spec = importlib.util.spec_from_file_location("sample_corpora_generate", Path(__file__).with_name("generate.py"))
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)

LINES = 3000  # half pos, half neg; about 350 KB
LABELS = ("pos", "neg")
NEGATORS = ("not", "n't", "never")
INTENSIFIERS = "very really so truly quite rather extremely terribly awfully".split()

# Sentiment adjectives by what they describe; "any" suits every target. pos first, neg second.
ADJ = {
    "any": ("good fine splendid wonderful lovely excellent pleasant delightful marvellous perfect".split(),
            "bad awful terrible dreadful horrid nasty poor miserable dismal wretched".split()),
    "food": ("delicious tasty fresh sweet tender ripe".split(),
             "stale rotten sour bitter soggy greasy".split()),
    "creature": ("kind honest gentle brave clever generous cheerful patient helpful polite loyal".split(),
                 "cruel rude greedy lazy selfish spiteful wicked grumpy foolish boastful jealous".split()),
    "place": ("cosy peaceful tidy pretty snug cheerful".split(),
              "dreary gloomy shabby dirty damp musty".split()),
    "thing": ("sturdy handsome elegant useful".split(),
              "broken rusty flimsy ugly useless".split()),
}
VERB = (gen.verbs("love like enjoy admire praise adore treasure".split()),
        gen.verbs("hate dislike despise fear scorn loathe mock".split()))
POSITIVE = sorted({w for pos, _ in ADJ.values() for w in pos} | {f for v in VERB[0] for f in v.values()})
NEGATIVE = sorted({w for _, neg in ADJ.values() for w in neg} | {f for v in VERB[1] for f in v.values()})
EVENTS = "supper feast journey market day walk song story dance evening morning visit wedding harvest".split()

# The neutral vocabulary of the narration and of the targets: no word here carries sentiment.
NEUTRAL_ADJS = """old little young big small tall short long round grey brown black white red golden
silver green yellow blue spotted striped wooden woollen painted narrow wide deep shallow heavy dark
speckled thin stout low square""".split()
NEUTRAL_ADVS = """slowly quickly quietly softly carefully suddenly silently steadily briskly lightly
firmly neatly openly busily""".split()
NEUTRAL_VI = """run walk go sleep jump hop swim sing dance wait rest climb crawl wander sit stand
whisper listen dig play work bark hum nod blink doze roam return arrive depart sail paddle float drift
glide march trot gallop scamper wade hurry scurry fly""".split()
NEUTRAL_VT = """see find chase carry bring take follow call visit watch meet open close build buy sell
borrow count weigh polish wash paint fill tie wrap lift fetch gather collect cook bake boil plant sweep
fold lead show give hold keep""".split()
NEUTRAL_VS = "say think know believe suppose remember decide explain notice guess declare announce".split()
BEFORE = ("when", "after", "before", "while", "once")  # narration first: the judgement comes last
AFTER = (["and", "then"], ["and", "after", "that"], ["and", "later"], ["so"], ["and", "soon"])


def neutral_grammar(rng):
    """generate.py's words.txt grammar with every pool swapped for its neutral part."""
    grammar = gen.WordGrammar(rng)
    grammar.adjs, grammar.advs = gen.Pool(NEUTRAL_ADJS), gen.Pool(NEUTRAL_ADVS)
    pick = lambda entries, keep: gen.Pool([v for v in gen.verbs(entries) if v["base"] in keep])
    grammar.vi, grammar.vt = pick(gen.VERBS_I, NEUTRAL_VI), pick(gen.VERBS_T, NEUTRAL_VT)
    grammar.vs = pick(gen.VERBS_S, NEUTRAL_VS)
    return grammar


class SentimentGrammar:
    def __init__(self, rng):
        self.rng = rng
        self.narrator = neutral_grammar(rng)
        self.foods, self.things = gen.Pool(gen.nouns(gen.FOODS)), gen.Pool(gen.nouns(gen.OBJECTS))
        self.people, self.animals = gen.Pool(gen.nouns(gen.PEOPLE)), gen.Pool(gen.nouns(gen.ANIMALS))
        self.places, self.neutral = gen.Pool(gen.PLACES), gen.Pool(NEUTRAL_ADJS)
        self.intens, self.events = gen.Pool(INTENSIFIERS), gen.Pool(EVENTS)
        self.verbs = (gen.Pool(VERB[0]), gen.Pool(VERB[1]))
        self.linking = {v["base"]: v for v in gen.verbs("seem look taste smell".split())}
        self.adj = {kind: (gen.Pool(pos), gen.Pool(neg)) for kind, (pos, neg) in ADJ.items()}

    def chance(self, p):
        return self.rng.random() < p

    def target(self):
        """A neutral noun phrase to judge: (tokens, kind, plural)."""
        rng = self.rng
        kind = rng.choice(["food", "food", "creature", "creature", "place", "thing"])
        if kind == "creature" and self.chance(0.25):
            return [self.narrator.names(rng)[0]], kind, False
        pool = {"food": self.foods, "creature": rng.choice([self.people, self.animals]),
                "place": None, "thing": self.things}[kind]
        plural = pool is not None and self.chance(0.3)
        noun = self.places(rng) if pool is None else pool(rng)[plural]
        tokens = ["the"] + ([self.neutral(rng)] if self.chance(0.3) else []) + [noun]
        if kind == "food" and self.chance(0.3):  # "the baker 's bread", "the pie at the inn"
            tokens = ["the", self.people(rng)[0], "'s"] + tokens[1:]
        elif self.chance(0.2):
            tokens += [rng.choice(["at", "by", "near", "from"]), "the", self.places(rng)]
        return tokens, kind, plural

    def word(self, polarity, kind):
        """A sentiment adjective of this polarity (0 pos, 1 neg) for a target kind."""
        return self.adj["any" if self.chance(0.4) else kind][polarity](self.rng)

    def negated_past(self, verb):
        """'did not love', 'did n't love' or 'never loved'."""
        neg = self.rng.choice([["did", "not"], ["did", "n't"], ["never"]])
        return neg + [verb["past" if neg == ["never"] else "base"]]

    def degree(self):
        return [self.intens(self.rng)] if self.chance(0.3) else []

    def judgement(self, label):
        """A clause that means `label` (0 pos, 1 neg); a negated one holds the opposite word."""
        rng, negated = self.rng, self.chance(0.35)
        polarity = label ^ negated
        form = rng.choice(["adj", "adj", "adj", "verb", "verb", "event"])
        if form == "event":  # "it was not a very lovely supper"
            neg = [rng.choice(NEGATORS)] if negated else []
            return ["it", "was"] + neg + ["a"] + self.degree() + [self.word(polarity, "any"), self.events(rng)]
        subject, kind, plural = self.target()
        if form == "verb":  # "the miller did n't enjoy the pie", "they never liked the fox"
            who, _ = self.narrator.noun_phrase(2)
            verb = self.verbs[polarity](rng)
            return who + (self.negated_past(verb) if negated else [verb["past"]]) + subject
        link = rng.choice(["be", "be", "seem", "look"] + ["taste", "smell"] * (kind == "food"))
        if link == "be":  # "the pie was not very good", "the inns were n't cosy"
            verb = [rng.choice(["were", "are"] if plural else ["was", "is"])]
            verb += [rng.choice(NEGATORS)] if negated else []
        else:  # "the pie did n't taste fresh", "the fox never seemed kind", "the inn looked snug"
            verb = self.linking[link]
            verb = self.negated_past(verb) if negated else [verb["past"]]
        return subject + verb + self.degree() + [self.word(polarity, kind)]

    def narration(self):
        """14 or more neutral tokens: clauses of the words.txt grammar joined by 'and then'."""
        tokens, length = self.narrator.clause(), self.rng.randint(14, 30)
        while len(tokens) < length:
            tokens += self.rng.choice([["and", "then"], ["and"], ["while"]]) + self.narrator.clause(1)
        return tokens

    def sentence(self, label):
        rng, other = self.rng, 1 - label
        form = rng.choices(["one", "but", "although_first", "although_after", "and"], [36, 22, 10, 10, 10])[0]
        if form == "one":
            body = self.judgement(label)
        elif form == "but":  # the clause after "but" decides
            body = self.judgement(other) + [",", "but"] + self.judgement(label)
        elif form == "although_first":  # "although A , B": B, the main clause, decides
            body = ["although"] + self.judgement(other) + [","] + self.judgement(label)
        elif form == "although_after":  # "A , although B": A, the main clause, decides
            body = self.judgement(label) + [",", "although"] + self.judgement(other)
        else:  # "A , and B": both say the same
            body = self.judgement(label) + [",", "and"] + self.judgement(label)
        tail = rng.choices(["none", "after", "before"], [55, 32, 13 * (form != "although_first")])[0]
        if tail == "after":  # the deciding words come early, then 14-30 neutral tokens
            body += [","] + rng.choice(AFTER) + self.narration()
        elif tail == "before":
            body = [rng.choice(BEFORE)] + self.narration() + [","] + body
        return body + ["."]


def make_sentiment(seed):
    rng = random.Random(seed)
    grammar = SentimentGrammar(rng)
    labels = [0, 1] * (LINES // 2)
    rng.shuffle(labels)
    return "".join(f"{LABELS[y]}\t{gen.fix_articles(' '.join(grammar.sentence(y)))}\n" for y in labels)
