"""Generate the sample corpora that ship with seqtool.

Its job: write ``fables.txt`` (book-like English prose for character-level models) and
``words.txt`` (Penn-Treebank-style token lines for word-level models) by expanding a grammar and
lexicon written for this project; ``sentiment.tsv`` (sentences labelled pos/neg) and
``tagged.conll`` (tokens with part-of-speech and named-entity tags) from the same lexicon, by the
grammars in ``sentiment.py`` and ``tagged.py`` next to this script; and
``longrange_france_gap50.txt`` (the lecture's "I grew up in France ... I speak fluent French" with
50 unrelated words in the gap) with seqtool's own generator ``seqtool/text/longrange.py``, loaded
by path; so the corpora are original, hold no third-party text, and are reproducible byte for byte.
Only the standard library is used; all randomness comes from ``random.Random`` with a fixed seed,
and every choice is made from an ordered list, so neither PYTHONHASHSEED nor set or dict ordering
can change the output.

    python sample_corpora/generate.py            # rewrite the corpora next to this script
    python sample_corpora/generate.py --out DIR  # write them somewhere else
    python sample_corpora/generate.py --check    # exit 1 if the files on disk are stale
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import re
import sys
import textwrap
from itertools import accumulate
from pathlib import Path

SEED = 20240611
FABLES_BYTES = 400_000  # stop adding stories once the text is this long
WORDS_BYTES = 750_000  # stop adding sentences once the text is this long
WRAP = 76  # fables line width, like a printed book

# ---------------------------------------------------------------------------------------------
# Lexicon. Nouns are "singular[/plural]"; people carry ":m" or ":f" when their gender is fixed.
# Verbs are "base[/past[/participle]]", with "+" after a base whose last consonant doubles
# (hop+ -> hopped, hopping). In words.txt earlier entries are drawn more often (Zipf by rank).
# ---------------------------------------------------------------------------------------------
ANIMALS = """fox crow hare tortoise wolf/wolves mouse/mice lion bear owl goat sheep/sheep frog ant
grasshopper stork heron cat dog hen rooster goose/geese duck swan eagle hawk sparrow wren magpie
raven badger otter beaver weasel mole hedgehog squirrel deer/deer stag horse donkey mule ox/oxen
cow bull pig boar rabbit rat lamb calf/calves snake lizard toad beetle bee wasp spider moth
butterfly snail crab trout pike eel seal whale camel monkey parrot peacock pigeon dove robin lark
nightingale bat tiger jackal elephant kitten puppy ferret vole shrew starling finch gull cricket
pony ram mare:f gander:m vixen:f kingfisher pelican leopard panther bison hound terrier gnat flea
hornet ladybird caterpillar woodpecker cuckoo thrush blackbird cub foal piglet gosling duckling
tadpole minnow carp newt adder viper buzzard kestrel falcon jay rook jackdaw crane""".split()
PEOPLE = """farmer miller king:m queen:f baker shepherd woodcutter hunter merchant weaver potter
sailor soldier traveller tailor cobbler smith widow:f man/men:m woman/women:f boy:m girl:f
child/children prince:m princess:f fisherman/fishermen:m grandmother:f grandfather:m mother:f
father:m daughter:f son:m brother:m sister:f uncle:m aunt:f judge beggar thief/thieves pilgrim
innkeeper gardener ferryman/ferrymen:m carpenter piper minstrel scholar doctor cook servant
knight:m squire:m duke:m duchess:f goatherd swineherd tinker peddler mayor clerk steward groom:m
bride:f nephew:m niece:f cousin neighbour stranger guard captain bailiff barber butcher brewer
mason thatcher milkmaid:f ploughman/ploughmen:m washerwoman/washerwomen:f huntsman/huntsmen:m
herald hermit wizard:m witch:f giant dwarf orphan shopkeeper lamplighter
watchman/watchmen:m""".split()
PLACES = """meadow forest wood river stream brook pond lake marsh hill mountain valley field
orchard garden farm farmyard barn stable mill bridge road lane path well spring cave cliff shore
beach harbour island village town market castle tower chapel inn kitchen cellar attic hedge ditch
wall gate yard vineyard heath moor desert riverbank hollow glade thicket grove quarry ford pier
bakery workshop cottage palace pasture reedbed sandbank churchyard woodpile haystack chimney
rooftop forge smithy lighthouse windmill millpond dovecote henhouse pigsty kennel burrow warren
nest den ridge summit gorge creek estuary lagoon waterfall fountain square alley courtyard garret
larder pantry hayloft granary schoolhouse library bog fen copse dell barrow bower byre causeway
clearing cornfield cowshed cove dale dune dyke footbridge gully hamlet hillside hilltop inlet knoll
marketplace mudflat nook paddock pinewood puddle rampart riverside rockpool ruin shed sheepfold
slope stile stump tollhouse treetop turret wayside weir wharf woodshed""".split()
OBJECTS = """key coin ring crown cup bowl jug bottle basket sack bag box chest lamp candle lantern
rope net ladder bell drum flute whistle mirror comb needle thread button hat cloak coat boot shoe
glove scarf feather stone pebble shell stick branch twig leaf/leaves flower rose thorn pot kettle
spoon knife/knives axe spade hammer nail wheel cart boat oar sail map letter book blanket pillow
purse saddle bucket fiddle kite barrel anchor compass shield sword arrow bow trumpet brush broom
hook lock chain jar teapot saucer plate ladle sieve thimble spindle quill inkpot candlestick
tinderbox lute harp horn banner flag ribbon bonnet apron belt buckle brooch locket bead marble
cradle stool bench table chair cupboard shelf/shelves drawer sledge wagon raft canoe paddle bridle
mitten sock clock hourglass awl blade bolt bundle cask cauldron chisel churn cork crate crock dish
ewer flask goblet grindstone hammock handkerchief harness helmet hoop jewel lid mallet mantle medal
mug napkin padlock pail parcel pennant pitcher plough pouch quilt rake satchel scroll shawl shovel
sickle slipper spool stirrup tankard tassel tray trowel trunk tub tunic urn vase wallet whip
wreath""".split()
FOODS = """cheese bone nut acorn apple pear plum cherry grape berry loaf/loaves cake pie honeycomb
egg turnip carrot cabbage bean pea onion sausage biscuit bun pudding mushroom walnut chestnut melon
fig date herring radish parsnip leek potato/potatoes tomato/tomatoes apricot peach lemon orange
quince hazelnut almond pancake dumpling pastry tart muffin crumpet pumpkin gooseberry
strawberry""".split()
ADJS = """old little young big small great tiny proud clever foolish wise silly greedy hungry lazy
busy kind cruel gentle brave timid shy bold quick slow swift sleepy tired weary happy sad angry
cheerful gloomy honest sly cunning patient careful careless humble vain poor rich lonely curious
noisy quiet grey brown black white red golden silver green yellow blue spotted striped shaggy sleek
fat thin tall short long round sharp soft hard warm cold wet dry dark bright shining dusty muddy
rusty broken shiny heavy light strange fine plain pretty ugly fierce tame wild hidden secret
ancient crooked narrow wide deep shallow sweet bitter fresh stale ripe empty generous stubborn
nervous jolly grumpy clumsy nimble handsome ragged polite rude famous forgotten faithful jealous
thoughtful restless woollen wooden painted velvet eager drowsy merry mighty feeble sturdy graceful
awkward anxious fearless fearful hopeful crafty bashful boastful spiteful mournful playful helpful
harmless hasty dainty frosty misty stormy sunny rainy windy snowy icy chilly splendid elegant
enormous speckled freckled tattered patched silken prickly bristly tender ferocious mischievous
grateful ungrateful unhappy brisk cosy damp dim dreary drab faint fancy fiery fluffy fragile frail
frozen furry gaunt giddy glossy greasy grim hairy hardy hoarse idle itchy jagged keen knotted lame
lanky lean lively lofty loyal lucky lumpy meek mellow modest moody musty nosy pale peaceful plump
portly quaint rash rough rosy rotten rugged salty scruffy selfish shabby shrewd silent skinny
slender slippery smoky smooth snug soggy solemn sour spotless stern stiff sticky stout sulky
tangled tearful thorny thrifty tidy trusty vivid wary wicked wiry witty wobbly wrinkled""".split()
ADVS = """slowly quickly quietly loudly gently softly sadly happily proudly carefully bravely
wisely foolishly kindly sharply eagerly lazily suddenly silently patiently swiftly angrily
cheerfully gravely sweetly boldly politely humbly rudely greedily nervously calmly warily wearily
merrily gladly grimly briskly lightly heavily firmly neatly roughly stiffly shyly slyly tenderly
fiercely meekly sleepily hungrily busily noisily clumsily gracefully awkwardly anxiously hopefully
boastfully playfully faithfully jealously thoughtfully restlessly steadily hastily daintily sternly
openly secretly""".split()
BODY = """ear eye tail nose tooth/teeth wing foot/feet leg horn whisker claw beak feather paw heart
tongue neck back bill hoof/hooves shoulder cheek chin belly mane""".split()
BODY_MODS = """long short sharp bright broad thin crooked grey black white golden red soft heavy
light swift sleepy bushy round flat""".split()
MATERIALS = """oak pine copper brass iron tin clay glass leather silk straw willow birch ivory
amber pewter wicker linen wool reed hazel""".split()
PLANTS = """oak ash elm willow birch beech hazel holly yew rowan alder thistle nettle bramble fern
reed foxglove daisy buttercup dandelion cowslip primrose bluebell poppy hawthorn blackthorn juniper
larch pine cedar sycamore poplar""".split()
VERBS_I = """run+/ran/run walk go/went/gone sleep/slept/slept jump hop+ fly/flew/flown
swim+/swam/swum sing/sang/sung dance laugh cry weep/wept/wept wait rest hide/hid/hidden climb crawl
wander hurry sit+/sat/sat stand/stood/stood shiver tremble shout whisper sigh grumble listen
dig+/dug/dug play work bark howl croak chirp hum+ snore yawn nod+ smile frown kneel/knelt/knelt
pray fall/fell/fallen sneeze scurry stumble hesitate splash whistle giggle chuckle mutter gallop
trot+ scamper skip+ paddle float drift sink/sank/sunk rise/rose/risen shine/shone/shone glow blink
wink doze nap+ pause linger roam sulk boast brag+ mourn rejoice vanish appear return arrive depart
sail squeak growl hiss purr bleat neigh buzz cluck quack coo bounce chatter cough dive flutter gasp
glide groan hobble hover leap/leapt/leapt limp march mumble peep plod+ prowl quiver ramble shuffle
soar sob+ stagger stroll strut+ totter trudge waddle wade wriggle yelp""".split()
VERBS_T = """see/saw/seen find/found/found chase catch/caught/caught carry bring/brought/brought
take/took/taken steal/stole/stolen eat/ate/eaten drop+ lose/lost/lost keep/kept/kept hold/held/held
follow help call greet thank praise warn tease fool trick feed/fed/fed visit watch meet/met/met
love hate fear admire envy guard pull push open close mend break/broke/broken build/built/built
buy/bought/bought sell/sold/sold borrow share bury forgive/forgave/forgiven scold question answer
remember trust invite rescue frighten comfort wake/woke/woken grab+ snatch seize fetch gather
collect count weigh polish wash paint fill empty tie wrap+ hang/hung/hung lift drag+
bite/bit/bitten sting/stung/stung scratch lick sniff taste cook bake boil roast plant
sweep/swept/swept shake/shook/shaken throw/threw/thrown kick hunt trap+ tame ride/rode/ridden
lead/led/led teach/taught/taught tell/told/told show/showed/shown give/gave/given win+/won/won
nibble gnaw peck pluck poke prod+ squeeze stroke tickle nudge chew crack crush fold hug+ kiss mock
nag+ pester pinch scare scatter shelter spill spoil steer tug+ unlock weave/wove/woven whittle
bless coax flatter hail heed lure outwit+""".split()
MOTION = """walk run hurry crawl wander scurry gallop trot scamper swim fly hop climb go""".split()
VERBS_S = """say/said/said think/thought/thought know/knew/known believe hope dream/dreamt/dreamt
suppose remember forget+/forgot/forgotten decide explain insist complain admit+ promise
swear/swore/sworn notice imagine guess wish suspect pretend declare announce doubt""".split()
SEASONS = "spring summer autumn winter".split()
TIMES = "morning evening night dawn dusk noon midnight afternoon".split()
NUMBERS = "two three four five six seven eight nine ten eleven twelve twenty forty".split()
SYLLABLES = """bra tel mor wen dun ka li ros fen gal tam pel rick ni sa bel dor hal mer vin ta lo
grim hes pip wil bo ran ek zo thu cor mab lin dra fel""".split()


def plural(noun):
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def nouns(entries):
    """'mouse/mice' -> (singular, plural, gender); gender is None unless fixed by ':m'/':f'."""
    out = []
    for entry in entries:
        entry, _, gender = entry.partition(":")
        sing, _, plur = entry.partition("/")
        out.append((sing, plur or plural(sing), gender or None))
    return out


def verbs(entries):
    """'swim+/swam/swum' -> {"base", "s" (he swims), "past", "part" (participle), "ing"}."""
    out = []
    for entry in entries:
        base, _, rest = entry.partition("/")
        past, _, part = rest.partition("/")
        double, base = base.endswith("+"), base.rstrip("+")
        stem = base + base[-1] if double else base  # hop -> hopp(ed), hopp(ing)
        if not past:
            past = (base + "d" if base.endswith("e") else
                    base[:-1] + "ied" if base.endswith("y") and base[-2] not in "aeiou" else
                    stem + "ed")
        third = (base + "es" if base.endswith(("s", "x", "z", "ch", "sh")) or base in ("go", "do")
                 else base[:-1] + "ies" if base.endswith("y") and base[-2] not in "aeiou"
                 else base + "s")
        ing = (base[:-2] + "ying" if base.endswith("ie") else
               base[:-1] + "ing" if base.endswith("e") and not base.endswith("ee") else
               stem + "ing")
        out.append({"base": base, "s": third, "past": past, "part": part or past, "ing": ing})
    return out


def make_names(rng, count):
    """Invented proper names built from syllables, each with a gender: [('Belwen', 'f'), ...]."""
    names, seen = [], set()  # the set is only asked about membership, never iterated
    while len(names) < count:
        name = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
        if len(name) <= 9 and name not in seen:
            seen.add(name)
            names.append((name.capitalize(), rng.choice("mf")))
    return names


class Pool:
    """A list to draw from, rank r weighted 1 / (r + 1) ** s (Zipf's law when s = 1)."""

    def __init__(self, items, s=1.0):
        self.items = list(items)
        self.cum = list(accumulate(1.0 / (r + 1) ** s for r in range(len(self.items))))

    def __call__(self, rng):
        return rng.choices(self.items, cum_weights=self.cum)[0]


def fix_articles(text):
    """'a owl' -> 'an owl', 'a honest' -> 'an honest' (on prose and on token lines alike)."""
    return re.sub(r"\b([Aa]) (?=[aeiou]|hon)", lambda m: m.group(1) + "n ", text)


# ---------------------------------------------------------------------------------------------
# fables.txt: stories expanded from a template grammar. "{rule}" expands a rule (a list of
# alternatives) or a lexicon slot, "{^rule}" also capitalises the result, and "a" before a vowel
# becomes "an" afterwards. A recursive rule lists a plain alternative first: once an expansion
# is deep, only first alternatives are taken, so every story ends.
# ---------------------------------------------------------------------------------------------
FABLE_RULES = {
    "setting": [
        "It was {a_time} in {season}, and {weather}.", "In those days {weather}.",
        "The {season} came early to the {place} that year, and {weather}.",
        "Nobody {pp} could remember a {season} like it, for {weather}.",
        "For {number} days {weather}, and the {animal_pl} kept to the {place}.",
        "That {season} {weather}, and {weather}.", "All through the {time} {weather}.",
        "{^weather}, and {np} {v_i} {pp} until {time}.",
        "It was the {ordinal} {time} of {season}; {weather}."],
    "weather": [
        "the wind blew {adv} across the {place}", "a {wadj} rain fell on the {place}",
        "the sun lay warm on the {place} and the {place}", "snow covered the {place}",
        "a grey mist hung over the {place} until {time}", "frost crept along the {place}",
        "thunder rolled {adv} beyond the {place}", "the {place} was {wadj} and still",
        "the leaves of the {place} turned {colour}", "the {wnoun} beat upon every {place}",
        "the stars shone over the {adjs} {place}", "the river rose and covered the {place}"],
    "when": ["", "", "", "", "then ", "just then ", "before long ", "after a while ",
             "the next {time} ", "when the {wnoun} had passed, ", "that same {time} ",
             "{at_time} ", "on the {ordinal} day ", "without a word ", "a little later "],
    "prep": ["by", "near", "beyond", "behind", "under", "above", "beside", "across", "in",
             "among", "along", "inside", "outside", "over", "past", "through", "below"],
    "pp": ["{prep} the {place}", "{prep} {town}", "on the road to {town}", "{prep} the {plant_pl}",
           "under a {adj} {plant}", "{prep} the {adjs} {place}", "{prep} the {place} {rel}",
           "{prep} the {person}'s {place}", "{prep} a {adj} {place} {pp}",
           "at the edge of the {place} where the {animal_pl} {v_i}",
           "halfway between the {place} and the {place}"],
    "town": ["{Name}", "{Name}", "the {place} of {Name}", "{Name} {^place}",
             "the {Name} {^place}"],
    "adjs": ["{adj}", "{adj}", "{adj}", "{adj} and {adj}", "{adj}, {adj}", "{adv_deg} {adj}"],
    "adv_deg": ["very", "rather", "quite", "terribly", "too", "so"],
    "opt_adj": ["", "{adj} "],
    "opt_adv": ["", " {adv}"],
    "a_obj": ["a {adj} {obj}", "a {material} {obj}"],
    "a_time": ["a {wadj} {time}", "a still {time}", "a bright {time}"],
    "rel": ["that the {person} had built", "where a {animal} {v_i} every {time}",
            "that nobody {pp} had ever {part_t}", "which the {animal_pl} feared",
            "where a {animal} once lost {a_obj}", "that smelled of {food_pl}",
            "whose {obj} had been {part_t} by a {animal}", "that belonged to {np}",
            "where the {wnoun} never came", "that {np} had {part_t} long ago",
            "that {v_t} {target}", "where {clause}"],
    "np": ["a {animal}", "a {adj} {person}", "the {opt_adj}{animal} {pp}", "the {opt_adj}{animal}",
           "the {opt_adj}{person}", "a {adj} {animal}", "{number} {adjs} {animal_pl}",
           "a {animal} with {a_obj} in its beak", "the {person} who lived {pp}",
           "the {person}'s {adjs} {animal}", "a {adj} {animal} {rel}", "every {animal} {pp}",
           "the {animal_pl} and the {animal_pl}", "{name} the {person}", "{a_obj} {rel}",
           "a {animal} with {adj} {body_pl}", "the {body_pl} of a {animal}"],
    "subj": ["{np}", "{A}", "{B}", "the {opt_adj}{animal_pl}", "the {opt_adj}{person}", "{name}",
             "{A_he}", "{B_he}", "nobody {pp}", "the {obj} {pp}"],
    "target": ["{np}", "the {opt_adj}{thing}", "a {adj} {thing}", "the {thing_pl} {pp}", "{A}",
               "the {opt_adj}{obj}", "{B}", "{a_obj}", "the {opt_adj}{food_pl}",
               "{A_his} {opt_adj}{obj}", "{B_his} {obj}", "{name}'s {obj}"],
    "clause": [
        "{subj} {v_i}{opt_adv} {pp}", "{pp}, {subj} {v_i}{opt_adv}",
        "{v_ing} {pp}, {subj} {v_t} {target}", "{name}, a {adj} {thing}, {v_i} {pp}",
        "{subj} {v_t} a {adj} {thing}, a {adj} {thing} and a {adj} {thing}",
        "{subj} {v_t} {target} {adv}", "{subj} and {subj} {v_i} {pp}", "{subj} saw that {clause}",
        "{subj} {v_i} {pp} {pp}", "{subj}, who {v_t} {target}, {v_i}{opt_adv}",
        "{A} {body_verb} {A_his} {body_pl}", "{B} {body_verb} {B_his} {adjs} {body}",
        "{subj} {v_t} {target}", "{subj} {v_i} {adv}", "{subj} {v_t} {target} {pp}",
        "{subj} {v_i} {pp}, and {clause}", "{subj} {v_t} {target} because {clause}",
        "{subj} {v_i} {adv} while {clause}", "{subj} was {adjs}", "{subj} {v_i} until {clause}",
        "{subj} had {part_t} {target} {pp}", "{subj} would not {v_t_base} {target}",
        "{subj} {v_t} {target}, but {clause}", "{subj} {v_i} {pp} as soon as {clause}",
        "{subj} could see that {clause}"],
    "body_verb": ["lifted", "shook", "scratched", "licked", "raised", "hid", "stretched",
                  "twitched", "folded", "rubbed", "washed", "tucked away"],
    "address": ["", "", "", "", "friend, ", "my dear, ", "neighbour, ", "listen, ", "well, ",
                "oh, ", "hush, ", "truly, ", "{name}, ", "little {animal}, ", "good {person}, "],
    "speech": ["{address}{statement}"],
    "statement": ["{clause}"] * 6 + [
        "I think {clause}", "they say that {clause}", "yesterday {clause}",
        "I {v_t} {target} {pp}", "we {v_i} {pp} when {clause}", "you will {v_t_base} {target}",
        "I have walked {number} miles since {time} and I have not eaten a single {food}",
        "there is no {obj} in all the {place} as {adj} as yours",
        "you should not sit so high with a {food} in your mouth",
        "my grandmother told me that {np} once {v_i} {pp}",
        "the {wnoun} will come before {time}, so we must hurry to the {place}",
        "I will give you my {obj} if you will {v_t_base} {np} for me",
        "nobody {pp} has a voice as {adj} as yours", "I am only a {adj} {animal}",
        "if you {v_i_base} {pp}, the {animal_pl} will laugh at you",
        "a {person} who {v_t} {np} is no friend of mine", "I never {v_t_base} {np}",
        "it is {adj} to {v_i_base} when the {wnoun} is coming",
        "{number} {animal_pl} have lived {pp} since the {season} of {year}",
        "I saw {np} {v_ing} {pp} this {time}", "the {obj} belongs to the {person}",
        "tomorrow I shall {v_t_base} the {obj} and {v_i_base} {pp}",
        "you are {adjs}, but you are not {adj}", "{statement}, and {statement}",
        "{statement}, but {statement}", "I cannot {v_i_base} while you {v_i_base} {pp}",
        "there are {number} {food_pl} {pp}, and they are all {adj}",
        "the {person} says that {np} {v_t} my {obj}", "we could {v_i_base} together {pp}",
        "you {v_t} my {obj} and you know it", "a {wnoun} like this comes once in {number} years",
        "I would rather {v_i_base} {pp} than {v_t_base} {np}", "my {obj} is {adjs} today",
        "the {animal_pl} {pp} will {v_t_base} us all", "it was not I who {v_t} the {obj}",
        "I have heard that {np} {v_i} {adv} {pp}", "nothing is {adj} {pp} {at_time}"],
    "question": [
        "why do you {v_i_base} {pp} when the {wnoun} is so {wadj}", "have you seen {np}",
        "where did you find that {adjs} {obj}", "what will you give me for {a_obj}",
        "how many {animal_pl} live {pp}", "will you share your {food} with a {adj} {animal}",
        "who told you that {statement}", "is it true that {statement}",
        "what are you doing {pp} at this hour", "can you {v_t_base} the {obj} before {time}",
        "do you know who {v_t} my {obj}", "how far is it to the {place}",
        "why are you so {adj} this {time}", "shall we {v_i_base} {pp}", "whose {obj} is this",
        "did you {v_t_base} {np}", "what is {a_obj} worth {pp}",
        "when did you last {v_i_base} {pp}"],
    "exclaim": [
        "what a {adjs} {obj} you have", "how {adj} you look in the {time} light",
        "run, {name}, run", "the {animal_pl} are coming", "oh, my poor {obj}",
        "never again will I trust a {animal}", "{number} {food_pl}, and all of them mine",
        "look out, the {wnoun} is coming over the {place}", "go away, you {adj} {animal}",
        "help, help, the {person} has {part_t} my {obj}", "stop, thief", "what {adj} luck",
        "how {adj} the {place} is {at_time}", "not another {food}"],
    "say": ["said", "said", "said", "said", "answered", "replied", "called", "whispered",
            "muttered", "grumbled", "declared", "added", "sighed", "laughed", "shouted"],
    "manner": ["", "", "", "", " {adv}", ", {adv}", " with a {adj} smile", " in a {adj} voice",
               ", without looking up", ", looking at the {place}"],
    "line": [
        '"{^speech}," {say} {A}{manner}.', '"{^speech}," {say} {B}{manner}.',
        '"{^question}?" asked {A}.', '"{^question}?" asked {B}{manner}.',
        '"{^exclaim}!" cried {A}.', '"{^exclaim}!" cried {B}.',
        '{A} looked at {B} and said, "{^speech}."', '"{^speech}," said {B}. "{^question}?"',
        '"{^speech}," said {A}, "{speech}."', '{B} {v_i} {adv}. "{^exclaim}!"',
        '"{^question}?" {A_he} asked. "{^speech}."', '{when}{B} said, "{^speech}."',
        '"{^speech}!" {B_he} {say}.', '"{^speech}," {A_he} {say}, "and {statement}."'],
    "moral": [
        "those who {v_i_base} too {adv} often {v_i_base} alone",
        "a {adj} friend is worth more than a {adj} {obj}",
        "flattery is a {adj} {food}, sweet at first and bitter after",
        "it is better to {v_i_base} {pp} than to {v_i_base} {pp} with a {adj} heart",
        "the {adj} are seldom as {adj} as they seem",
        "he who trusts a {animal} will lose his {obj}",
        "a {obj} in the paw is worth {number} in the {place}",
        "you cannot {v_t_base} the {wnoun}, however {adj} you are",
        "a {adj} tongue {v_t} more {animal_pl} than a {adj} {obj}",
        "do not {v_t_base} a {animal} that {v_t} its own {obj}",
        "what is {part_t} in {season} is {part_t} in {season}",
        "the {adj} {animal} {v_i_s} last", "every {obj} has its {wnoun}",
        "no one is too {adj} to {v_i_base}", "pride goes before a {wnoun}"],
}

STORY_RULES = {  # rules that name the story's two characters; A is the hero
    "intro_A": [
        "There was once {a_A} who lived {pp}.",
        "{^a_A} lived {pp}, and every {time} {A_he} {v_i} {adv}.",
        "Long ago there lived {a_A} who kept {a_obj} {pp}.",
        "In a {adj} corner of the {place} lived {a_A}.",
        "{^a_A} had {number} {food_pl} and {a_obj}, and wanted nothing more.",
        "Everyone {pp} knew {a_A}, for {A_he} {v_i} louder than anyone."],
    "intro_B": [
        "One {time} {a_B} came {prep} the {place}.", "Now {a_B} lived {pp}.",
        "At that moment {a_B} {v_i} {pp}, and {B_he} saw {A}.",
        "Not far away, {pp}, there was {a_B} who {v_t} {np}.",
        "{^a_B} had been watching from the {place} all {time}."],
    "B_has": [
        "{B} had {a_obj} {pp}, and {B_he} was very proud of it.",
        "{B} held a {food} in {B_his} mouth and looked {adv} at {A}.",
        "{B} was carrying {number} {food_pl} home to the {place}."],
    "trouble": [
        "{when}{A} fell into the {place} and could not climb out.",
        "{A} lost {A_his} {obj} {pp} and {v_i} until {time}.",
        "A {person} caught {A} in a net and carried {A_him} to the {place}.",
        "The {wnoun} drove {A} from {A_his} home {pp}, and {A_he} had nowhere to go."],
    "contest": [
        "They agreed to race from the {place} to the {place}, and {np} would be judge.",
        "All the {animal_pl} {pp} came to see which of them was the more {adj}.",
        "The prize was {a_obj}, and {A} wanted it more than anything."],
    "scheme": [
        "{A} made a plan to {v_t_base} {B} and take {B_his} {obj}.",
        "{A} thought for a long time, and then {A_he} {v_i} {adv} to the {place}."],
    "journey": [
        "So {A} set out for the {place}, and {A_he} walked {adv} for {number} days.",
        "{A} {v_i} {pp} and then {v_i} {pp}, and still {A_he} did not find the {obj}.",
        "{when}{A} came to a {adjs} {place} and {v_i} there until {time}."],
    "aside": ["{when}{clause}."] * 6 + [
        "The {place} was {adjs} at that hour, and {np} {v_i} {pp}.",
        "Somewhere {pp} a {animal} {v_i}, but nobody paid it any mind.",
        "{A_he} thought of {A_his} {obj} {pp} and {v_i} {adv}."],
    "event": ["{when}{clause}."] * 12 + [
        "{when}{A} {v_t} {np} {pp}.", "{B} {v_i} {adv}, and {A} {v_t} the {obj}.",
        "When {A} reached the {place}, {A_he} found {a_obj} lying {pp}.",
        "{A} {v_t} {B} {adv} and said nothing.",
        "{when}{B} dropped the {obj}, and {A} snatched it up.",
        "By {time} {A} had {part_t} {np}, as {A_he} had promised.",
        "{when}{B} {v_i} {pp}, {v_ing} and {v_ing}.", "{A} hid the {obj} {pp}.",
        "{B} ran to the {place} to tell the {animal_pl}, but they only {v_i}.",
        "{A} and {B} {v_i} side by side until the {wnoun} came.",
        "{when}{B} gave {A} a {food}, and {A_he} ate it {adv}."],
    "ending": [
        "And {A} never again {v_t} {np}. Moral: {^moral}.",
        "From that day {B} {v_i} {adv} whenever {B_he} saw {A}. {^moral}.",
        "So {A} went home {adv}, and {A_he} had learned that {moral}.",
        "The {animal_pl} laughed, and {B} crept away. Moral: {^moral}.",
        "{A} and {B} lived {pp} for {number} more years, and {moral}.",
        "In the end {B} kept the {obj}, and {A} kept {A_his} pride. {^moral}.",
        "That is why, to this day, {animal_pl} {v_i_base} {pp}."],
}

PLOTS = {  # paragraph plans, one list of rules per paragraph; "line" alone is a conversation
    "covet": [["intro_A", "setting"], ["intro_B", "B_has"], ["line"], ["event", "event"],
              ["line"], ["event"], ["ending"]],
    "help": [["setting", "intro_A"], ["trouble"], ["intro_B", "event"], ["line"],
             ["event", "event", "aside"], ["line"], ["ending"]],
    "contest": [["intro_A", "intro_B"], ["line"], ["setting", "contest"], ["event", "event"],
                ["aside", "event"], ["line"], ["ending"]],
    "journey": [["intro_A"], ["setting", "journey"], ["intro_B", "event"], ["line"],
                ["journey", "event"], ["line"], ["ending"]],
    "trick": [["intro_A", "aside"], ["intro_B"], ["scheme", "event"], ["line"],
              ["setting", "event"], ["line"], ["event", "ending"]],
}
TITLES = ["THE {A} AND THE {B}.", "THE {ADJ} {A}.", "THE {ADJ} {A} AND THE {B}.",
          "THE {A}, THE {B} AND THE {OBJ}.", "HOW THE {A} FOUND THE {OBJ}."]
PRONOUNS = {"m": ("he", "his", "him"), "f": ("she", "her", "her")}


def fable_slots(names):
    """Lexicon slots shared by every story: slot name -> function(rng) -> word(s)."""
    slots = {}
    for key, entries in (("animal", ANIMALS), ("person", PEOPLE), ("place", PLACES),
                         ("obj", OBJECTS), ("food", FOODS), ("plant", PLANTS), ("body", BODY),
                         ("thing", OBJECTS + FOODS + PLANTS + ANIMALS)):
        pool = Pool(nouns(entries), 0.2)  # nearly flat: prose should not be too predictable
        slots[key] = lambda rng, pool=pool: pool(rng)[0]
        slots[key + "_pl"] = lambda rng, pool=pool: pool(rng)[1]
    for key, entries, form in (("v_i", VERBS_I, "past"), ("v_i_base", VERBS_I, "base"),
                               ("v_i_s", VERBS_I, "s"), ("v_ing", VERBS_I, "ing"),
                               ("v_t", VERBS_T, "past"), ("v_t_base", VERBS_T, "base"),
                               ("part_t", VERBS_T, "part")):
        pool = Pool(verbs(entries), 0.2)
        slots[key] = lambda rng, pool=pool, form=form: pool(rng)[form]
    adjs, body = Pool(ADJS, 0.2), [b[0] for b in nouns(BODY)]

    def adj(rng):  # now and then a compound such as "long-eared" or "sharp-toothed"
        if rng.random() < 0.7:
            return adjs(rng)
        part = rng.choice(body)
        part += "ged" if part == "leg" else "d" if part.endswith("e") else "ed"
        return rng.choice(BODY_MODS) + "-" + part

    def number(rng):
        return str(rng.randint(2, 500)) if rng.random() < 0.5 else rng.choice(NUMBERS)

    slots.update({
        "adj": adj, "number": number, "adv": Pool(ADVS, 0.2), "material": Pool(MATERIALS),
        "season": Pool(SEASONS), "time": Pool(TIMES),
        "year": lambda rng: str(rng.randint(1200, 1899)),
        "wadj": Pool("cold thin heavy bitter warm steady grey".split()),
        "wnoun": Pool("storm rain snow frost wind flood winter night".split()),
        "colour": Pool("red golden brown yellow grey black silver".split()),
        "ordinal": Pool("first second third fourth fifth sixth seventh last".split()),
        "at_time": Pool(["at dawn", "at dusk", "at noon", "at midnight", "in the morning",
                         "in the evening", "at night", "in the afternoon"]),
        "name": lambda rng: rng.choice(names)[0],  # a bystander, from a fixed cast
        "Name": lambda rng: make_names(rng, 1)[0][0],  # a place name, made up on the spot
    })
    return slots


def character(rng, slots):
    """A story character's rules: how it is introduced ("a_"), referred to, and its pronouns."""
    kind, _, gender = rng.choice(nouns(ANIMALS) + nouns(PEOPLE)[:20])
    gender = gender or rng.choice("mf")
    name, adj = make_names(rng, 1)[0][0], slots["adj"](rng)  # a fresh name for every character
    he, his, him = PRONOUNS[gender]
    rules = {"kind": kind, "he": [he], "his": [his], "him": [him]}
    if rng.random() < 0.75:  # a named character is introduced by name and mostly called by it
        return dict(rules, the=[f"the {kind}", name, name], a=[f"a {adj} {kind} named {name}"])
    return dict(rules, the=[f"the {kind}", f"the {kind}", f"the {adj} {kind}"],
                a=[f"a {adj} {kind}", f"an old {kind}"])


def expand(rng, text, rules, depth=0):
    """Replace every {rule} in text with one of its alternatives, expanded in turn."""
    def sub(match):
        cap, key = match.group(1), match.group(2)
        rule = rules[key]
        if callable(rule):
            out = rule(rng)
        else:
            out = expand(rng, rule[0] if depth > 4 else rng.choice(rule), rules, depth + 1)
        return out[:1].upper() + out[1:] if cap else out

    return re.sub(r"\{(\^?)(\w+)\}", sub, text)


def story(rng, slots):
    a = character(rng, slots)
    b = character(rng, slots)
    while b["kind"] == a["kind"]:
        b = character(rng, slots)
    rules = dict(FABLE_RULES, **STORY_RULES, **slots)
    for tag, who in (("A", a), ("B", b)):
        rules.update({tag: who["the"], "a_" + tag: who["a"], tag + "_he": who["he"],
                      tag + "_his": who["his"], tag + "_him": who["him"]})
    title = rng.choice(TITLES).format(A=a["kind"].upper(), B=b["kind"].upper(),
                                      ADJ=slots["adj"](rng).upper(), OBJ=slots["obj"](rng).upper())
    paragraphs = []
    for plan in PLOTS[rng.choice(list(PLOTS))]:
        # a conversation is one to five speeches, each its own paragraph as in a book
        for _ in range(rng.randint(1, 5) if plan == ["line"] else 1):
            text = " ".join(expand(rng, "{^" + rule + "}", rules) for rule in plan)
            paragraphs.append(textwrap.fill(fix_articles(text), WRAP, break_long_words=False,
                                            break_on_hyphens=False))
    return title + "\n\n" + "\n\n".join(paragraphs) + "\n"


def make_fables(seed=SEED):
    rng = random.Random(seed)
    slots = fable_slots(make_names(rng, 1000))
    stories, size = [], 0
    while size < FABLES_BYTES:
        stories.append(story(rng, slots))
        size += len(stories[-1]) + 2
    return "\n\n".join(stories)


# ---------------------------------------------------------------------------------------------
# words.txt: one sentence per line, lowercase, tokens split PTB-style ("do n't", "fox 's").
# The grammar tracks person, number and gender, so verbs agree with their subjects and pronouns
# agree with the noun phrase they refer back to, across clauses.
# ---------------------------------------------------------------------------------------------
PRON = {  # (person, number, gender) -> subject, object, possessive, reflexive
    (3, "sg", "m"): ("he", "him", "his", "himself"),
    (3, "sg", "f"): ("she", "her", "her", "herself"),
    (3, "sg", "n"): ("it", "it", "its", "itself"),
    (3, "pl", None): ("they", "them", "their", "themselves"),
    (1, "sg", None): ("i", "me", "my", "myself"),
    (1, "pl", None): ("we", "us", "our", "ourselves"),
    (2, "sg", None): ("you", "you", "your", "yourself"),
}
MODALS = "will would can could must may might should".split()
DET_SG = ["the"] * 8 + ["a"] * 5 + "this that every one no each my our your".split()
DET_PL = ["the"] * 6 + "some these those many few all no my our".split() + NUMBERS


class Ent:
    """What agreement needs to know about a noun phrase."""

    def __init__(self, person, number, gender):
        self.person, self.number, self.gender = person, number, gender
        self.sg3 = person == 3 and number == "sg"  # takes "runs", "is", "has", "does"

    def pron(self, case):
        """case: 0 subject, 1 object, 2 possessive, 3 reflexive."""
        gender = self.gender if self.sg3 else None
        return PRON[self.person, self.number, gender][case]

    def be(self, past=False):
        if past:
            return "was" if self.number == "sg" and self.person != 2 else "were"
        return "am" if (self.person, self.number) == (1, "sg") else "is" if self.sg3 else "are"


class WordGrammar:
    def __init__(self, rng):
        self.rng = rng
        self.names = Pool([(n.lower(), g) for n, g in make_names(rng, 1500)])
        self.animals, self.people = Pool(nouns(ANIMALS)), Pool(nouns(PEOPLE))
        self.things = Pool(nouns(OBJECTS + FOODS))
        self.places, self.adjs, self.advs = Pool(PLACES), Pool(ADJS), Pool(ADVS)
        self.vi, self.vt = Pool(verbs(VERBS_I)), Pool(verbs(VERBS_T))
        self.vs = Pool(verbs(VERBS_S))
        self.motion = Pool([v for v in verbs(VERBS_I) if v["base"] in MOTION])

    def chance(self, p):
        return self.rng.random() < p

    def noun_phrase(self, depth=0, role="subj"):
        """Returns (tokens, Ent). Only living things are subjects; things can be objects."""
        rng = self.rng
        if self.chance(0.12):
            name, gender = self.names(rng)
            return [name], Ent(3, "sg", gender)
        if self.chance(0.12):
            person, number, gender = rng.choice(list(PRON))
            ent = Ent(person, number, gender or "n")
            return [ent.pron(0 if role == "subj" else 1)], ent
        pools = [self.animals, self.animals, self.people] + [self.things] * (role == "obj")
        pool = rng.choice(pools)
        sing, plur, gender = pool(rng)
        ent = Ent(3, "pl" if self.chance(0.3) else "sg",
                  "n" if pool is self.things else gender or rng.choice("mf"))
        tokens = rng.choice(DET_SG if ent.sg3 else DET_PL).split()
        if pool is not self.people and self.chance(0.06):  # "the miller 's goose"
            tokens = ["the", self.people(rng)[0], "'s"]
        tokens += [self.adjs(rng) for _ in range(rng.choice([0, 0, 0, 1, 1, 2]))]
        tokens.append(sing if ent.sg3 else plur)
        if depth < 2 and self.chance(0.18):
            tokens += [rng.choice(["by", "near", "in", "from", "behind"]), "the", self.places(rng)]
        elif depth < 2 and ent.gender != "n" and self.chance(0.15):  # "the hens that live ..."
            tokens += [rng.choice(["who", "that"])]
            tokens += self.verb_phrase(ent, rng.choice(["pres", "past"]), depth + 1)
        return tokens, ent

    def verb(self, verb, tense, subj, neg=False):
        """Conjugate one verb (a dict from verbs()) for a subject Ent."""
        nt = ["n't"] if neg else []
        if tense == "pres" and neg:
            return ["does" if subj.sg3 else "do", "n't", verb["base"]]
        if tense == "pres":
            return [verb["s"] if subj.sg3 else verb["base"]]
        if tense == "past":
            return ["did", "n't", verb["base"]] if neg else [verb["past"]]
        if tense == "prog":
            return [subj.be(past=self.chance(0.5))] + nt + [verb["ing"]]
        if tense == "perf":
            return [self.rng.choice(["has" if subj.sg3 else "have", "had"])] + nt + [verb["part"]]
        modal = self.rng.choice(MODALS)
        if neg:  # PTB splits "won't" and "can't" as "wo n't" and "ca n't"
            return [{"will": "wo", "can": "ca"}.get(modal, modal), "n't", verb["base"]]
        return [modal, verb["base"]]

    def verb_phrase(self, subj, tense, depth=0):
        rng, neg = self.rng, self.chance(0.12)
        kind = rng.choices(["intr", "trans", "poss", "refl", "say", "go", "adj", "pred"],
                           [5, 7, 3, 1, 2 if depth < 2 else 0, 2, 2, 1])[0]
        if kind == "intr":
            out = self.verb(self.vi(rng), tense, subj, neg)
            if self.chance(0.3):
                out.append(self.advs(rng))
            if self.chance(0.4):
                out += [rng.choice(["in", "by", "near", "under", "behind"]), "the",
                        self.places(rng)]
            return out
        if kind in ("trans", "poss", "refl"):
            out = self.verb(self.vt(rng), tense, subj, neg)
            if kind == "refl":  # "the fox hid herself"
                return out + [subj.pron(3)]
            if kind == "poss":  # "the crow dropped her cheese"
                return out + [subj.pron(2), self.things(rng)[self.chance(0.3)]]
            return out + self.noun_phrase(depth + 1, "obj")[0]
        if kind == "say":  # "the king said that he would find his crown"
            out = self.verb(self.vs(rng), tense, subj, neg) + ["that"]
            return out + self.clause(depth + 1, subj if self.chance(0.6) else None)
        if kind == "go":
            out = self.verb(self.motion(rng), tense, subj, neg)
            return out + [rng.choice(["to", "into", "across", "toward", "past"]), "the",
                          self.places(rng)]
        be = {"pres": [subj.be()], "prog": [subj.be()], "past": [subj.be(past=True)],
              "perf": ["has" if subj.sg3 else "have", "been"]}.get(tense)
        be = be or [rng.choice(MODALS), "be"]
        be += ["not"] if neg else []
        if kind == "adj":
            degree = [rng.choice(["very", "so", "too", "quite"])] if self.chance(0.3) else []
            return be + degree + [self.adjs(rng)]
        sing, plur, _ = self.animals(rng) if self.chance(0.5) else self.people(rng)
        if subj.number == "sg" and subj.person != 2:  # "is a clever fox" / "are clever foxes"
            return be + ["a", self.adjs(rng), sing]
        return be + [self.adjs(rng), plur]

    def clause(self, depth=0, refer=None):
        """A clause; when `refer` is given its subject is a pronoun for that Ent."""
        if refer is not None:
            subj_tokens, subj = [refer.pron(0)], refer
        else:
            subj_tokens, subj = self.noun_phrase(depth)
        tense = self.rng.choice(["pres", "past", "past", "past", "prog", "perf", "modal"])
        return subj_tokens + self.verb_phrase(subj, tense, depth)

    def sentence(self):
        rng, r = self.rng, self.rng.random()
        if r < 0.40:
            return self.clause() + ["."]
        if r < 0.62:  # two clauses; the second subject often refers back to the first
            first_tokens, first = self.noun_phrase()
            first_tokens += self.verb_phrase(first, rng.choice(["pres", "past", "past"]))
            second = self.clause(refer=first if self.chance(0.6) else None)
            if self.chance(0.5):
                return first_tokens + [",", rng.choice(["and", "but", "so"])] + second + ["."]
            conj = rng.choice(["when", "after", "before", "because", "although", "while", "if"])
            return [conj] + first_tokens + [","] + second + ["."]
        if r < 0.80:  # questions
            kind = rng.choice(["did", "did", "where", "why", "who"])
            if kind == "who":
                return ["who", self.vt(rng)["past"]] + self.noun_phrase(1, "obj")[0] + ["?"]
            subj_tokens = self.noun_phrase()[0]
            transitive = self.chance(0.6)
            verb = self.vt(rng) if transitive else self.vi(rng)
            obj = self.noun_phrase(1, "obj")[0] if transitive else []
            lead = ["did"] if kind == "did" else [kind, "did"]
            return lead + subj_tokens + [verb["base"]] + obj + ["?"]
        if r < 0.90:  # reported speech with PTB quotes
            said = self.noun_phrase(1)[0]
            return ["``"] + self.clause() + [",", "''", "said"] + said + ["."]
        return self.clause() + [rng.choice(["and", "or"])] + self.clause(1) + ["."]


def make_words(seed=SEED):
    rng = random.Random(seed + 1)
    grammar = WordGrammar(rng)
    lines, size = [], 0
    while size < WORDS_BYTES:
        lines.append(fix_articles(" ".join(grammar.sentence())))
        size += len(lines[-1]) + 1
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# longrange_france_gap50.txt: made by seqtool's own generator; sentiment.tsv and tagged.conll: made by
# sentiment.py and tagged.py next to this script, which draw on the lexicon and grammar above. All
# are loaded from the source tree by path (standard library only), so this script runs without
# seqtool installed.
# ---------------------------------------------------------------------------------------------
HERE = Path(__file__).resolve().parent
LONGRANGE = HERE.parent / "seqtool" / "text" / "longrange.py"
LONGRANGE_LINES = 1500  # about 520 KB at a gap of 50


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def make_longrange_france(seed=SEED):
    longrange = load_module("seqtool_longrange", LONGRANGE)
    examples = longrange.generate("france", gap=50, n=LONGRANGE_LINES, seed=seed + 2)
    return "".join(ex.text + "\n" for ex in examples)


def make_sentiment(seed=SEED):
    return load_module("sample_corpora_sentiment", HERE / "sentiment.py").make_sentiment(seed + 3)


def make_tagged(seed=SEED):
    return load_module("sample_corpora_tagged", HERE / "tagged.py").make_tagged(seed + 4)


CORPORA = {"fables.txt": make_fables, "words.txt": make_words,
           "longrange_france_gap50.txt": make_longrange_france,
           "sentiment.tsv": make_sentiment, "tagged.conll": make_tagged}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE,
                        help="folder to write the corpora to (default: next to this script)")
    parser.add_argument("--check", action="store_true",
                        help="regenerate in memory; exit 1 if the files in --out differ")
    args = parser.parse_args(argv)
    stale = []
    for name, make in CORPORA.items():
        data = make().encode("ascii")
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path} ({len(data):,} bytes)")
    if stale:
        print(f"stale: {', '.join(stale)}; run python sample_corpora/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
