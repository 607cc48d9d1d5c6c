"""Hard English text seen in probing, fixed as categories (issue 20): each category has cases beyond
the one that was reported, written out by hand as a person reads them, and cases that must not
change (real ranges, real counts, real fractions)."""

from __future__ import annotations

import pytest

from kokoro_server.languages import normalize_text


def read(text: str, lang: str = "a") -> str:
    return normalize_text(text, lang=lang)


# -- vanity (alphanumeric) telephone numbers: the letters are read as the word they spell -----------

@pytest.mark.parametrize("text, expected", [
    ("1-800-FLOWERS", "one, eight hundred, flowers"),
    ("Call 1-800-FLOWERS today.", "Call one, eight hundred, flowers today."),
    ("call 1-800-GO-FEDEX now", "call one, eight hundred, go fedex now"),
    ("Dial 1-888-NEW-CARS.", "Dial one, eight-eight-eight, new cars."),
    ("(800) MY-APPLE", "eight hundred, my apple"),
    ("call 555-GET-FOOD", "call five-five-five, get food"),
    ("1-800-4MY-HOME", "one, eight hundred, four my home"),
    ("1 800 CONTACTS", "one, eight hundred, contacts"),
    ("1-800-Flowers", "one, eight hundred, flowers"),
    ("a 1-800 number", "a one eight hundred number"),
])
def test_vanity_numbers_are_read_as_their_words(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("1-800-555-1234", "one, eight-zero-zero, five-five-five, one-two-three-four"),  # digits: dictated
    ("the 800-LB gorilla", "the eight hundred-LB gorilla"),  # two letters spell no word: not a phone
    ("Boeing 737-MAX", "Boeing seven hundred and thirty-seven-MAX"),  # no toll-free code, no phone word
    ("an 800-pound gorilla", "an eight hundred-pound gorilla"),  # a word in lower case after a toll-free code
    ("pages 1-800", "pages one to eight hundred"),
    ("1-800 people", "one to eight hundred people"),
])
def test_what_is_no_vanity_number_stays_as_it_was(text: str, expected: str) -> None:
    assert read(text) == expected


# -- model and part numbers with hyphens: names, not ranges ----------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("747-400", "seven forty-seven four hundred"),
    ("a Boeing 747-400 landed", "a Boeing seven forty-seven four hundred landed"),
    ("Boeing 737-800", "Boeing seven thirty-seven eight hundred"),
    ("the 787-9 is quiet", "the seven eighty-seven nine is quiet"),
    ("a Boeing 747 landed", "a Boeing seven forty-seven landed"),
    ("an A320-200", "an A three twenty two hundred"),
    ("the F-150", "the F one fifty"),
    ("a T-800", "a T eight hundred"),
    ("an RTX-4090", "an RTX forty ninety"),
    ("SHA-256", "SHA two fifty-six"),
    ("part 4521-0032", "part forty-five twenty-one, zero zero three two"),
    ("ISBN 978-3-16-148410-0",
     "ISBN nine-seven-eight, three, one-six, one-four-eight-four-one-zero, zero"),
    ("SSN 123-45-6789", "SSN one-two-three, four-five, six-seven-eight-nine"),
])
def test_model_and_part_numbers_are_read_as_names(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("pages 10-20", "pages ten to twenty"),
    ("Expect 10-12 guests.", "Expect ten to twelve guests."),
    ("won 105-98", "won one hundred and five to ninety-eight"),
    ("125-200 people", "one hundred and twenty-five to two hundred people"),
    ("pages 747-800", "pages seven hundred and forty-seven to eight hundred"),
    ("won 3-2", "won three to two"),
    ("They sold 747 planes", "They sold seven hundred and forty-seven planes"),
    ("ages 18-25", "ages eighteen to twenty-five"),
    ("the years 1914-1918", "the years nineteen fourteen to nineteen eighteen"),
    ("B-52", "B fifty-two"),  # two digits after letters: as before
    ("COVID-19", "COVID nineteen"),
])
def test_real_ranges_stay_ranges(text: str, expected: str) -> None:
    assert read(text) == expected


# -- abbreviations before closing punctuation --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The population (2023 est.) is 5 million.",
     "The population, twenty twenty-three estimated, is five million."),
    ("Revenue (2024 est.) grew", "Revenue, twenty twenty-four estimated, grew"),
    ("(2023 est.)", "(twenty twenty-three estimated)"),
    ("Founded in 1990 (approx.).", "Founded in nineteen ninety, approximately."),
    ("It was cheap (approx.) and good", "It was cheap, approximately, and good"),
    ("He left (Jan.) early", "He left, January, early"),
    ("(see Smith et al.)", "(see Smith et al)"),
    ("Smith et al. found it", "Smith et al found it"),
    ("apples and pears (etc.) are", "apples and pears, et cetera, are"),
])
def test_abbreviations_before_a_closing_bracket_are_expanded_and_end_no_sentence(text: str,
                                                                                  expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Est. 1892", "established eighteen ninety-two"),
    ("est. 5 million", "estimated five million"),
    ("I met Jan. Then I left.", "I met Jan. Then I left."),  # no bracket: "Jan" is a name
    ("apples, etc. Then pears.", "apples, et cetera. Then pears."),  # the sentence still ends
    ("Ask Smith et al. Then go.", "Ask Smith et al. Then go."),
])
def test_abbreviations_elsewhere_keep_their_reading(text: str, expected: str) -> None:
    assert read(text) == expected


# -- legal sub-clause references --------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Article 5(1)(a)", "Article five, one A"),
    ("Under Article 5(1)(a) of the GDPR, data must be fair.",
     "Under Article five, one A of the GDPR, data must be fair."),
    ("Art. 6(1)(f) GDPR", "Article six, one F GDPR"),
    ("Rule 12(b)(6)", "Rule twelve, B six"),
    ("a 501(c)(3) charity", "a five oh one, C three charity"),
    ("§ 1983(a)", "section nineteen eighty-three, A"),
    ("section 101(a)(15)(H)", "section one oh one, A fifteen H"),
    ("paragraph 3(b)", "paragraph three, B"),
    ("clause 4(ii)", "clause four, two"),
])
def test_legal_references_read_their_sub_clauses_in_order(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("f(x) is", "f(x) is"),
    ("5(1)", "five(one)"),  # no reference word and no letter: not a reference
    ("The price (including tax) is", "The price, including tax, is"),
    ("Article 5", "Article five"),
])
def test_brackets_that_are_no_reference_stay_as_they_were(text: str, expected: str) -> None:
    assert read(text) == expected


# -- abbreviations written with a slash ------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a 5 y/o boy", "a five year old boy"),
    ("He is 7 y/o.", "He is seven years old."),
    ("a 25 y/o male", "a twenty-five year old male"),
    ("a 1 y/o", "a one year old"),
    ("Send it c/o the manager.", "Send it care of the manager."),
    ("I stayed b/c it rained", "I stayed because it rained"),
    ("Price: N/A", "Price: not applicable"),
    ("Jane a/k/a JJ", "Jane also known as JJ"),
    ("the a/c unit", "the A C unit"),
    ("w/in 5 days", "within five days"),
    ("a 5yo boy", "a five year old boy"),
    ("He is 7 y.o. Then he left.", "He is seven years old. Then he left."),
    ("a 3 yr old", "a three year old"),
])
def test_slash_abbreviations_are_read_out(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("and/or", "and or"),
    ("he/she", "he or she"),
    ("input/output", "input output"),
    ("w/ sugar, w/o milk", "with sugar, without milk"),
    ("open 24/7", "open twenty-four seven"),
])
def test_other_slashes_keep_their_reading(text: str, expected: str) -> None:
    assert read(text) == expected


# -- numeric dates after date words --------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("on 7/4", "on July fourth"),
    ("We met on 7/4.", "We met on July fourth."),
    ("It is due by 3/15.", "It is due by March fifteenth."),
    ("since 1/1 we have", "since January first we have"),
    ("until 6/30", "until June thirtieth"),
    ("Friday 12/25", "Friday December twenty-fifth"),
    ("Fri. 12/25 at noon", "Friday December twenty-fifth at noon"),
    ("on 12/25/99", "on December twenty-fifth, ninety-nine"),
    ("by 7/4/04", "by July fourth, oh four"),
    ("It is open Mon-Fri 9-5.", "It is open Monday to Friday nine to five."),
])
def test_month_and_day_after_a_date_word_are_a_date(text: str, expected: str) -> None:
    assert read(text) == expected


def test_british_dates_put_the_day_first() -> None:
    assert read("on 4/7", lang="b") == "on the fourth of July"


@pytest.mark.parametrize("text, expected", [
    ("1/2 cup", "one half cup"),
    ("on 1/2 of the days", "on one half of the days"),
    ("by 3/4 cup", "by three quarters cup"),
    ("rated 8/10", "rated eight out of ten"),
    ("on 9/11", "on nine eleven"),
    ("on 13/25", "on thirteen twenty-fifths"),  # no month 13: a fraction
])
def test_fractions_after_date_words_stay_fractions(text: str, expected: str) -> None:
    assert read(text) == expected


# -- years of events before proper nouns --------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("The 2020 Olympics", "The twenty twenty Olympics"),
    ("the 1984 Olympics were", "the nineteen eighty-four Olympics were"),
    ("the 2016 Rio Games", "the twenty sixteen Rio Games"),
    ("the 2022 World Cup", "the twenty twenty-two World Cup"),
    ("the 2012 London Olympics", "the twenty twelve London Olympics"),
    ("the 2000 election", "the two thousand election"),
    ("2020 Census data", "twenty twenty Census data"),
    ("We met at Expo 2020 in Dubai.", "We met at Expo twenty twenty in Dubai."),
    ("Flight 1549 landed", "Flight fifteen forty-nine landed"),
    ("A 2019 study found it.", "A twenty nineteen study found it."),
    ("the 2008 financial crisis", "the two thousand eight financial crisis"),
    ("2020 was hard.", "twenty twenty was hard."),
    ("Smith et al. (2020) found", "Smith et al twenty twenty found"),
    ("Volume 2 (1998) was reprinted.", "Volume two nineteen ninety-eight was reprinted."),
    ("Population: 8,336,817 (est. 2023)", "Population: eight million three hundred and thirty-six thousand "
                                          "eight hundred and seventeen, estimated twenty twenty-three,"),
])
def test_years_before_an_event_are_years(text: str, expected: str) -> None:
    assert read(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("2000 Americans", "two thousand Americans"),
    ("The factory had 1914 workers.", "The factory had one thousand nine hundred and fourteen workers."),
    ("2020 candidates", "two thousand and twenty candidates"),
    ("He sold 1500 Apple shares", "He sold one thousand five hundred Apple shares"),
    ("a total of 1500 people", "a total of one thousand five hundred people"),
    ("Over 2000 people came", "Over two thousand people came"),
    ("I paid Bob 2020 dollars", "I paid Bob two thousand and twenty dollars"),
    ("2000 American soldiers", "two thousand American soldiers"),
    ("2000 sheep", "two thousand sheep"),
    ("It weighs 2023 kg", "It weighs two thousand and twenty-three kilograms"),
    ("2000 were injured", "two thousand were injured"),
])
def test_counts_before_nouns_stay_counts(text: str, expected: str) -> None:
    assert read(text) == expected


# -- heard: the reported sentences, spoken and transcribed --------------------------------------------

HEARD = [
    ("Call 1-800-FLOWERS to order a bouquet.", "call one eight hundred flowers to order a bouquet"),
    ("The Boeing 747-400 is a jumbo jet.", "the boeing seven forty-seven four hundred is a jumbo jet"),
    ("The population is 5 million (2023 est.).", "the population is five million twenty twenty-three estimated"),
    ("Under Article 5(1)(a), data must be processed fairly.",
     "under article five one a data must be processed fairly"),
    ("The patient is a 45 y/o male.", "the patient is a forty-five year old male"),
    ("We will meet on 7/4 for the fireworks.", "we will meet on july fourth for the fireworks"),
    ("The 2020 Olympics were postponed.", "the twenty twenty olympics were postponed"),
]


@pytest.mark.slow
@pytest.mark.long
def test_the_reported_sentences_are_heard_as_a_person_reads_them(service, transcriber) -> None:
    from kokoro_server.service import SpeechRequest
    from tests.support.whisper import tally, words
    from tests.test_intelligibility import spoken_words

    results = []
    for text, expected in HEARD:
        heard = transcriber(service.synthesize(SpeechRequest(text=text, voice="af_heart")))
        results.append((words(expected), spoken_words(heard), f"{text!r} -> {heard.strip()!r}"))
    wer, report = tally(results)
    print("\nreported hard sentences: " + report)
    assert wer <= 0.05, report
