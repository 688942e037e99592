"""English-ish text for synthetic seed files: words, sentences, titles, names.

Word choice follows a Zipf law over a vocabulary of real common words followed
by ~25,000 invented ones, so two independently written articles share the
function words and a few phrases (as real news does) but almost none of their
word 3-grams: distinct articles must not look like near-duplicates.
"""

from __future__ import annotations

import random

import numpy as np


def _words(text: str) -> list[str]:
    return text.split()


COMMON = _words("""
the of and to in a is that for on was with said he it as by at from his an be
have has are were but not this which they who had been will their more its or
after would also one about two new first year government people over than
other into last after years when time there percent some could all minister
up only three out officials can while may told country she her we our them
them said prime under against since before between during told company city
prefecture police case plan state public support told million billion report
market economic policy party election vote law court trial school students
children women men family local national world international Japan Japanese
Tokyo Osaka China Chinese United States U.S. Korea Korean Europe Asia team
game season players coach match win lost won final league tournament record
health hospital patients virus vaccine doctors medical research study data
business companies sales profit shares stocks investors bank yen dollar price
prices rate rates growth inflation trade exports imports industry workers jobs
energy power nuclear plant climate weather storm earthquake rain residents
area region town village island islands coast river mountain travel tourists
culture music film art artist book writer museum festival food restaurant
technology digital online internet system software phone data security
defense military forces troops talks meeting agreement treaty summit leaders
president official spokesman ministry agency committee council board group
members chairman director executive chief head office department program
project projects plans decision decisions issue issues problem problems
question questions result results number numbers level levels part parts
week month day days months weeks morning evening night today Monday Tuesday
Wednesday Thursday Friday Saturday Sunday January February March April May
June July August September October November December early late recent
according including however although because despite through without within
around across toward among along already still even just now then again
very much many most few several each every both such same different own
high low large small major key main long short big little good bad better
best worse worst great important possible likely able former current next
make made making take took taken give gave given say says see saw seen know
knew known think thought find found show showed shown call called come came
go went going get got use used want wanted need needed keep kept hold held
continue continued expect expected announce announced increase increased
reduce reduced raise raised cut cuts rise rose fall fell remain remained
""")

FIRST_NAMES = _words("""
Daisuke Taro Hiroshi Yuki Kenji Akiko Naoko Takashi Satoshi Mari Emi Kazuo
Yoshiko Haruki Sayaka Ryo Tomoko Makoto Junko Shinichi Keiko Masaru Aya
James Sarah Michael Emily David Anna Robert Laura Thomas Julia Daniel Claire
Peter Rachel Mark Helen Andrew Sophie Jonathan Maria Eric Karen Magdalena
Jesse Philip Oliver Chloe Gabriel Noémie René Zoë
""")

LAST_NAMES = _words("""
Kikuchi Tanaka Suzuki Sato Watanabe Ito Yamamoto Nakamura Kobayashi Kato
Yoshida Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Mori
Ikeda Hashimoto Ishikawa Ogawa Okada Fujita Murakami Kondo Aoki Sakamoto
Johnston Smith Brasor Osaki Jozuka Clark Martin Walker Hughes Brennan
Fitzgerald O'Connor Müller García Nguyen Park Kim Lee Chen Wang Dubois
Rossi Novak Andersen Kowalski Schneider McNeill
""")

_ONSETS = _words("b c d f g h k l m n p r s t v w b c d m p s t br cl dr gr pr sh st tr ch th")
_VOWELS = _words("a e i o u a e i o a e ea ou")
_CODAS = ["", "", "", "", "", "n", "r", "l", "s", "t", "m", "nd", "st", "ng"]
_SUFFIXES = ["", "", "", "", "", "", "s", "s", "ed", "ing", "er", "ion", "al", "ly"]


def _invented_words(rng: random.Random, count: int, exclude: set[str]) -> list[str]:
    words: list[str] = []
    seen = set(exclude)
    while len(words) < count:
        syllables = rng.choice((1, 2, 2, 2, 3))
        w = "".join(
            rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
            for _ in range(syllables)
        ) + rng.choice(_SUFFIXES)
        if len(w) > 2 and w not in seen:
            seen.add(w)
            words.append(w)
    return words


#: Measured mean length of :meth:`TextGen.sentence` (plus its joining space).
BYTES_PER_SENTENCE = 115


_TABLE = 1 << 22


class TextGen:
    """Deterministic text source; ``py`` drives structure, ``np`` draws words."""

    def __init__(self, seed: int, vocabulary: int = 25_000, zipf: float = 1.0) -> None:
        self.py = random.Random(seed)
        self.np = np.random.default_rng(seed)
        common = list(dict.fromkeys(COMMON))
        invented = _invented_words(random.Random(seed ^ 0x5EED), vocabulary, set(common))
        # The common words come first, so they get the high Zipf ranks.
        self.words = common + invented
        ranks = np.arange(1, len(self.words) + 1, dtype=np.float64)
        weights = 1.0 / (ranks + 2.7) ** zipf
        # Inverse-CDF lookup table: one uniform integer per word instead of a
        # binary search (the rarest word still gets a few slots).
        cdf = np.cumsum(weights / weights.sum())
        slots = np.searchsorted(cdf, (np.arange(_TABLE) + 0.5) / _TABLE)
        self.table = np.minimum(slots, len(self.words) - 1).astype(np.int32)
        self.vocab = np.array(self.words, dtype=object)
        self._stream: list[str] = []

    def reseed(self, seed: int) -> None:
        """Restart both generators (the vocabulary is kept: it is costly to build)."""
        self.py.seed(seed)
        self.np = np.random.default_rng(seed)
        self._stream.clear()

    # -- words ------------------------------------------------------------------

    def _refill(self, n: int) -> None:
        idx = self.table[self.np.integers(0, _TABLE, size=max(n, 65_536))]
        self._stream.extend(self.vocab[idx].tolist())

    def take(self, n: int) -> list[str]:
        """The next ``n`` words of the Zipf stream."""
        if len(self._stream) < n:
            self._refill(n)
        out = self._stream[-n:]
        del self._stream[-n:]
        return out

    def rare_words(self, n: int) -> list[str]:
        """Words from the tail: an article's own topic vocabulary."""
        lo = len(COMMON)
        return [self.words[self.py.randrange(lo, len(self.words))] for _ in range(n)]

    # -- names ------------------------------------------------------------------

    def name(self) -> str:
        return f"{self.py.choice(FIRST_NAMES)} {self.py.choice(LAST_NAMES)}"

    def byline(self) -> str:
        k = self.py.choices((1, 2, 3), weights=(85, 12, 3))[0]
        names = [self.name() for _ in range(k)]
        if k == 1:
            return f"by {names[0]}"
        if k == 2:
            return f"by {names[0]} and {names[1]}"
        return f"by {names[0]}, {names[1]} and {names[2]}"

    # -- sentences --------------------------------------------------------------

    def _number(self) -> str:
        r = self.py.random()
        if r < 0.3:
            return f"{self.py.uniform(0.1, 99):.1f} percent"
        if r < 0.55:
            return f"{self.py.randrange(1000, 999_999):,}"
        if r < 0.75:
            return str(self.py.randrange(1950, 2021))
        if r < 0.9:
            return f"¥{self.py.randrange(1, 999)} billion"
        return str(self.py.randrange(2, 60))

    def sentence(self, topic: list[str]) -> str:
        return self.paragraph(1, topic)

    def paragraph(self, sentences: int, topic: list[str]) -> str:
        return self.body_sentences([sentences], topic)[0]

    def body_sentences(self, per_paragraph: list[int], topic: list[str]) -> list[str]:
        """Paragraphs of the given sentence counts.

        Works on one flat word list and touches each sentence only at its two
        ends; the per-word randomness is drawn in bulk (100k files must take
        seconds, not minutes).
        """
        py, rng = self.py, self.np
        count = sum(per_paragraph)
        lengths = rng.integers(6, 29, size=count)
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        words = self.take(total)
        if topic:
            for k in np.flatnonzero(rng.random(total) < 0.08).tolist():
                words[k] = topic[k % len(topic)]
        starts = (ends - lengths).tolist()
        ends_l = (ends - 1).tolist()
        for k in starts:
            w = words[k]
            words[k] = w[0].upper() + w[1:]
        dice = rng.random((5, count))
        lens, where = lengths.tolist(), dice[1].tolist()
        # Sparse decorations: numbers, commas, a few non-ASCII words.
        for i in np.flatnonzero(dice[0] < 0.25).tolist():
            words[starts[i] + int(where[i] * lens[i])] = self._number()
        for i in np.flatnonzero((dice[2] < 0.35) & (lengths > 10)).tolist():
            words[starts[i] + 3 + int(where[i] * (lens[i] - 6))] += ","
        for i in np.flatnonzero(dice[3] < 0.04).tolist():
            k = starts[i] + 1 + int(where[i] * (lens[i] - 1))
            words[k] = py.choice(("café", "résumé", "naïve", "Pokémon", "—"))
        # Sentence ends: mostly full stops, some quotes, a few questions.
        end_kind = dice[4].tolist()
        for i, e in enumerate(ends_l):
            d = end_kind[i]
            if d >= 0.18:
                words[e] += "."
            elif d < 0.12:
                words[starts[i]] = "\u201c" + words[starts[i]]
                words[e] += f",\u201d {self.name()} said."
            elif d < 0.15:
                words[e] += "?"
            else:
                words[e] += f" in {py.choice(LAST_NAMES)}\u2019s view."
        out: list[str] = []
        s = 0
        for n in per_paragraph:
            out.append(" ".join(words[starts[s] : ends_l[s + n - 1] + 1]))
            s += n
        return out

    def title(self, topic: list[str]) -> str:
        py = self.py
        words = self.take(py.randrange(5, 15))
        if topic:
            words[py.randrange(len(words))] = py.choice(topic).capitalize()
        r = py.random()
        if r < 0.06:
            words.insert(py.randrange(1, len(words)), "&")
        elif r < 0.10:
            words[0] = f"\u2018{words[0]}\u2019"
        elif r < 0.16:
            words.insert(py.randrange(1, len(words)), str(py.randrange(2, 500)))
        elif r < 0.20:
            words[1] += ":"
        text = " ".join(words)
        return text[0].upper() + text[1:]

    def body(self, paragraphs: int, target_bytes: int, topic: list[str]) -> list[str]:
        """``paragraphs`` paragraphs totalling about ``target_bytes`` bytes."""
        # ~BYTES_PER_SENTENCE on average; every paragraph gets at least one.
        count = max(paragraphs, round(target_bytes / BYTES_PER_SENTENCE))
        extra = self.np.multinomial(count - paragraphs, [1 / paragraphs] * paragraphs)
        return self.body_sentences((extra + 1).tolist(), topic)
