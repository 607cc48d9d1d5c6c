"""The English normalizer: real-world cases, options, and linear time on adversarial input."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kokoro_server.text.clean import clean_input
from kokoro_server.languages import normalize, normalize_text
from kokoro_server.text.normalize import NormalizationOptions


@pytest.mark.parametrize("text, expected", [
    ("It costs $5.50.", "It costs five dollars and fifty cents."),
    ("It costs $1.", "It costs one dollar."),
    ("Pay £2 million now", "Pay two million pounds now"),
    ("€3.05 each", "three euros and five cents each"),
    ("$1,250,000 raised", "one million two hundred and fifty thousand dollars raised"),
    ("Meet at 3:30pm.", "Meet at three thirty PM."),
    ("Meet at 9:05 a.m.", "Meet at nine oh five AM."),
    ("It is 7:00.", "It is seven o'clock."),
    ("Born 2024-01-03.", "Born January third, twenty twenty-four."),
    ("Due 12/25/1999.", "Due December twenty-fifth, nineteen ninety-nine."),
    ("In 1984 it rained.", "In nineteen eighty-four it rained."),
    ("The 1990s were loud.", "The nineteen nineties were loud."),
    ("the 21st century", "the twenty-first century"),
    ("She came 2nd and 3rd", "She came second and third"),
    ("pi is 3.14159", "pi is three point one four one five nine"),
    ("1,234 people", "one thousand two hundred and thirty-four people"),
    ("It was -5 outside", "It was minus five outside"),
    ("Up 12% today", "Up twelve percent today"),
    ("Up 2.5 % today", "Up two point five percent today"),
    ("a 5km run", "a five kilometers run"),
    ("1 kg of rice", "one kilogram of rice"),
    ("It was 72°F", "It was seventy-two degrees Fahrenheit"),
    ("a 16GB card", "a sixteen gigabytes card"),
    ("6 ft tall", "six feet tall"),
    ("Dr. Smith and Mr. Jones", "Doctor Smith and Mister Jones"),
    ("apples, pears, etc. are fruit", "apples, pears, et cetera are fruit"),
    ("Call No. 5", "Call number five"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("Write to john.doe@example.com today", "Write to john dot doe at example dot com today"),
    ("See https://www.example.com/docs.", "See example dot com slash docs."),
    ("Visit www.kokoro.org now", "Visit kokoro dot org now"),
    ("Code 12345678901234567890", "Code one two three four five six seven eight nine zero one two three four "
                                  "five six seven eight nine zero"),
    ("tabs\tand   spaces", "tabs and spaces"),
    ("no numbers here", "no numbers here"),
])
def test_normalizes_real_world_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_options_switch_rules_off() -> None:
    text = "Mail bob@example.com about 5km at https://x.org"
    assert normalize_text(text, NormalizationOptions(normalize=False)) == text
    kept = normalize_text(text, NormalizationOptions(email_normalization=False, url_normalization=False,
                                                     unit_normalization=False,
                                                     replace_remaining_symbols=False))
    assert "bob@example.com" in kept and "https://x.org" in kept and "kilometers" not in kept
    assert "five km" in kept


def test_control_characters_are_removed() -> None:
    assert normalize_text("a\x00b\x07c") == "a b c"



@pytest.mark.parametrize("text, expected", [
    # years in year contexts, counts stay cardinal
    ("In 1914 the war began.", "In nineteen fourteen the war began."),
    ("It happened in March 1999.", "It happened in March nineteen ninety-nine."),
    ("Since 2010 we grew.", "Since twenty ten we grew."),
    ("By 2005 it was done.", "By two thousand five it was done."),
    ("From 1999 to 2005 we worked.", "From nineteen ninety-nine to two thousand five we worked."),
    ("between 1999 and 2005", "between nineteen ninety-nine and two thousand five"),
    ("the year 2000", "the year two thousand"),
    ("in 1905", "in nineteen oh five"),
    ("the summer of 1969.", "the summer of nineteen sixty-nine."),
    ("AD 1066 and 1066 AD", "AD ten sixty-six and ten sixty-six AD"),
    ("the years 1914-1918", "the years nineteen fourteen to nineteen eighteen"),
    ("the 1914–18 war", "the nineteen fourteen to eighteen war"),
    ("1914 people came", "one thousand nine hundred and fourteen people came"),
    ("a total of 1500 people", "a total of one thousand five hundred people"),
    ("The factory had 1914 workers.", "The factory had one thousand nine hundred and fourteen workers."),
    # decades and centuries
    ("The 1990s and the 2010s", "The nineteen nineties and the twenty tens"),
    ("the '90s", "the nineties"),
    ("in his 60s", "in his sixties"),
    ("the 1800s and the 1900s", "the eighteen hundreds and the nineteen hundreds"),
    ("the 19th century", "the nineteenth century"),
    # telephone numbers: digit by digit, in groups
    ("Call 555-123-4567 now", "Call five-five-five, one-two-three, four-five-six-seven now"),
    ("Call (555) 123-4567 now", "Call five-five-five, one-two-three, four-five-six-seven now"),
    ("Call +1 555 123 4567", "Call plus one, five-five-five, one-two-three, four-five-six-seven"),
    ("+44 20 7946 0958", "plus four four, two-zero, seven-nine-four-six, zero-nine-five-eight"),
    ("call 555-1234", "call five-five-five, one-two-three-four"),
    ("1-800-555-1234", "one, eight-zero-zero, five-five-five, one-two-three-four"),
    # ranges and scores
    ("10-20 people", "ten to twenty people"),
    ("won 3-2", "won three to two"),
    ("$10-$20", "ten dollars to twenty dollars"),
    ("10-12%", "ten to twelve percent"),
    # fractions and slashes
    ("1/2 cup", "one half cup"),
    ("3/4 of them", "three quarters of them"),
    ("2/3 majority", "two thirds majority"),
    ("5/8 inch", "five eighths inch"),
    ("1 1/2 cups", "one and a half cups"),
    ("2½ hours", "two and a half hours"),
    ("24/7", "twenty-four seven"),
    ("open 24-7.", "open twenty-four seven."),
    ("rated 8/10", "rated eight out of ten"),
    ("9/11", "nine eleven"),
    ("50/50 chance", "fifty fifty chance"),
    ("and/or", "and or"),
    ("he/she", "he or she"),
    ("w/ sugar, w/o milk", "with sugar, without milk"),
    ("$5/hr", "five dollars per hour"),
    ("10 m/s", "ten meters per second"),
    ("input/output", "input output"),
    # minus signs
    ("-5", "minus five"),
    ("\u22125", "minus five"),
    ("-5°C", "minus five degrees Celsius"),
    ("it was \u22123 °F", "it was minus three degrees Fahrenheit"),
    ("-$20", "minus twenty dollars"),
    ("-3.5%", "minus three point five percent"),
    ("COVID-19", "COVID nineteen"),
    # Roman numerals after names, and "I" the pronoun
    ("Henry VIII", "Henry the Eighth"),
    ("Henry the VIII", "Henry the Eighth"),
    ("Louis XIV", "Louis the Fourteenth"),
    ("Elizabeth II's reign", "Elizabeth the Second's reign"),
    ("Pope John Paul II", "Pope John Paul the Second"),
    ("Pope Benedict XVI", "Pope Benedict the Sixteenth"),
    ("World War I ended", "World War one ended"),
    ("World War II", "World War two"),
    ("Rocky II", "Rocky two"),
    ("Final Fantasy VII", "Final Fantasy seven"),
    ("Chapter IV", "Chapter four"),
    ("Super Bowl LVII", "Super Bowl fifty-seven"),
    ("I think I am", "I think I am"),
    ("When I was young, I left.", "When I was young, I left."),
    ("Then Henry I saw it", "Then Henry I saw it"),
    ("Malcolm X spoke", "Malcolm X spoke"),
    ("Size XL shirt", "Size XL shirt"),
    # abbreviations: expanded, their periods end no sentence
    ("Tue., Mar. 5", "Tuesday, March fifth"),
    ("on Sat., Jan. 3", "on Saturday, January third"),
    ("I met Jan. Then I left.", "I met Jan. Then I left."),
    ("at 10 a.m. in the hall", "at ten AM in the hall"),
    ("at 10 a.m. Then we left.", "at ten AM. Then we left."),
    ("at 5pm", "at five PM"),
    ("Prof. Adams", "Professor Adams"),
    ("Lt. Col. Smith", "Lieutenant Colonel Smith"),
    ("Dr. Who and Dr. Jones", "Doctor Who and Doctor Jones"),
    ("He lives on Elm Dr. now.", "He lives on Elm Drive now."),
    ("Main St. is busy.", "Main Street is busy."),
    ("St. Louis", "Saint Louis"),
    ("12 St. John St., Apt. #4B.", "twelve Saint John Street, Apartment number four B."),
    ("Elm Dr., the house", "Elm Drive, the house"),
    ("or 555-1234 ext. 22.", "or five-five-five, one-two-three-four extension twenty-two."),
    ("555-1234", "five-five-five, one-two-three-four"),
    ("pages 100-1000", "pages one hundred to one thousand"),
    ("250-1000 words", "two hundred and fifty to one thousand words"),
    ("between 300-5000 people", "between three hundred and five thousand people"),
    # grouped thousands with a percent sign, a unit, a multiplier, a suffix or in a range
    ("It grew 1,000% today.", "It grew one thousand percent today."),
    ("1,234,567%", "one million two hundred and thirty-four thousand five hundred and sixty-seven percent"),
    ("2,500 kg and 1,000km", "two thousand five hundred kilograms and one thousand kilometers"),
    ("1,000x faster", "one thousand times faster"),
    ("the 1,000th visitor", "the one thousandth visitor"),
    ("1,000°C", "one thousand degrees Celsius"),
    ("1,000-1,500 words", "one thousand to one thousand five hundred words"),
    ("1,000.5 km", "one thousand point five kilometers"),
    ("10MB/s", "ten megabytes per second"),
    ("Version v2.0.1 is out", "Version two point oh point one is out"),
    ("A -> B => C", "A to B to C"),
    ("x >= y and a <= b, c != d", "x at least y and a at most b, c not equal to d"),
    ("<!-- a comment -->", "<!-- a comment -->"),
    ("a home of 1,800 sq ft", "a home of one thousand eight hundred square feet"),
    ("5 kWh and 3 m²", "five kilowatt hours and three square meters"),
    ("100 psi", "one hundred pounds per square inch"),
    ("rates of 5.25%-5.5%", "rates of five point two five percent to five point five percent"),
    ("Call 911 now", "Call nine one one now"),
    ("revenue in FY2023 and Q4 2023", "revenue in FY twenty twenty-three and Q four twenty twenty-three"),
    ("H1 2025 results", "H one twenty twenty-five results"),
    ("It weighs 2023 kg", "It weighs two thousand and twenty-three kilograms"),
    ("At 18:00 UTC, or 18:30", "At eighteen hundred UTC, or eighteen thirty"),
    ("at 6:00 PM", "at six PM"),
    ("√2 ≈ 1.414", "the square root of two about one point four one four"),
    ("Mt. Everest", "Mount Everest"),
    ("Martin Luther King Jr. spoke", "Martin Luther King Junior spoke"),
    ("apples, etc. Then pears.", "apples, et cetera. Then pears."),
    ("apples vs. oranges", "apples versus oranges"),
    ("e.g. this, i.e. that", "for example this, that is that"),
    ("the U.S. army", "the U.S army"),
    ("in the U.S. Then", "in the U.S. Then"),
    ("John F. Kennedy", "John F Kennedy"),
    ("Fig. 3", "Figure three"),
    ("ca. 1500", "circa fifteen hundred"),
    # asides
    ("the price (including tax) is", "the price, including tax, is"),
    ("the price (tax).", "the price, tax."),
    ("f(x) is", "f(x) is"),
    # versions, addresses, decimals
    ("Python 3.11", "Python three point eleven"),
    ("version 2.7", "version two point seven"),
    ("v2.0.1", "version two point oh point one"),
    ("v1.10", "version one point ten"),
    ("USB 3.0", "USB three point oh"),
    ("192.168.0.1", "one nine two dot one six eight dot zero dot one"),
    ("1.5", "one point five"),
    ("24.12.2024", "the twenty-fourth of December, twenty twenty-four"),
    # ordinals
    ("1st, 2nd, 3rd, 4th", "first, second, third, fourth"),
    ("22nd, 103rd, 111th", "twenty-second, one hundred and third, one hundred and eleventh"),
    # sizes
    ("1920x1080", "nineteen twenty by ten eighty"),
    ("3x4", "three by four"),
    ("2x faster", "two times faster"),
    ("6'2\" tall", "six foot two tall"),
    ("6' tall", "six feet tall"),
    # money
    ("$1.5M", "one point five million dollars"),
    ("$2bn", "two billion dollars"),
    ("$5k", "five thousand dollars"),
    ("$1.01", "one dollar and one cent"),
    ("£20.50", "twenty pounds and fifty pence"),
    ("¥2000", "two thousand yen"),
    ("₹500", "five hundred rupees"),
    ("₹5 crore", "five crore rupees"),
    ("100 USD", "one hundred dollars"),
    # units
    ("1.5 kg", "one point five kilograms"),
    ("0.5 mm", "zero point five millimeters"),
    ("5 in the box", "five in the box"),
    ("5in", "five inches"),
    ("512 MB", "five hundred and twelve megabytes"),
    ("300 ms", "three hundred milliseconds"),
    ("5 min. later", "five minutes later"),
    ("120 km/h", "one hundred and twenty kilometers per hour"),
    ("3 GHz", "three gigahertz"),
    ("60 fps", "sixty frames per second"),
    ("MP3 and 5G", "MP three and five G"),
    # dates
    ("May 5, 2024", "May fifth, twenty twenty-four"),
    ("5 March 2024", "the fifth of March, twenty twenty-four"),
    ("on the 5th of May", "on the fifth of May"),
    ("7:05 p.m.", "seven oh five PM."),
])
def test_reads_hard_text_as_a_person_would(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_british_english_says_and_in_years_and_puts_the_day_first() -> None:
    assert normalize_text("in 2005", lang="b") == "in two thousand and five"
    assert normalize_text("Born 2024-01-03.", lang="b") == "Born the third of January, twenty twenty-four."


@pytest.mark.parametrize("lang, text, expected", [
    ("e", "Cuesta $5 o 3,50 € y 1.000 personas", "Cuesta 5 dólares o 3 euros con 50 centavos y 1000 personas"),
    ("e", "Hace -5 °C, 1/2 kilo, 5 km, 3,5 km", "Hace menos 5 grados, un medio kilo, 5 kilómetros, 3 coma 5 kilómetros"),
    ("f", "Il coûte 5 € et 10 000 personnes, -3 °C, 1/2", "Il coûte 5 euros et 10000 personnes, moins 3 degrés, un demi"),
    ("i", "Costa 5 € e 1.000 persone, -3", "Costa 5 euro e 1000 persone, -3"),  # espeak says "meno" itself
    ("p", "Custa R$ 5,50 e 1.000 pessoas", "Custa 5 reais e 50 centavos e 1000 pessoas"),
    ("h", "₹500 और 3.5 किलो, -5, 1,00,000", "500 रुपये और 3 दशमलव 5 किलो, ऋण 5, 100000"),
    ("j", "$5と50%と3.5と1,000人と-5度と10-12人と5kmと",
     "5ドルと50パーセントと3点5と1000人とマイナス5度と10から12人と5キロメートルと"),
    ("z", "$5和1,000人和5km和10-12", "5美元和1000人和5公里和10到12"),
    ("e", "Tengo 25 años", "Tengo 25 años"),  # espeak reads digits in Spanish already
])
def test_other_languages_get_what_their_front_ends_miss(lang: str, text: str, expected: str) -> None:
    assert normalize_text(text, lang=lang) == expected


@pytest.mark.parametrize("text, expected", [
    ("# Title\nSome **bold** and *italic* and __under__ text.", "Title\nSome bold and italic and under text."),
    ("See [the docs](https://example.com/docs) and ![a cat](cat.png).", "See the docs and a cat."),
    ("- one\n- two\n* three\n1. four\n2) five", "one\ntwo\nthree\nfour\nfive"),
    ("> quoted\n>> deeper", "quoted\ndeeper"),
    ("Run `pip install x` now.\n```python\nprint(1)\n```", "Run pip install x now.\n\nprint(one)\n"),
    ("| a | b |\n|---|:-:|\n| 1 | 2 |", "a, b\n\none, two"),
    ("~~old~~ new\n\n---\nend", "old new\n\n\nend"),
    ("snake_case and 2*3 stay", "snake_case and two*three stay"),
    ("Say [tomato](/təmˈɑːtO/) please", "Say [tomato](/təmˈɑːtO/) please"),  # a pronunciation, for markup
])
def test_strip_markdown_keeps_the_words(text: str, expected: str) -> None:
    assert normalize(text, NormalizationOptions(replace_remaining_symbols=False)).text == expected.strip()


def test_strip_emoji_and_the_options_that_keep_them() -> None:
    text = "Great job 👍🏽 see you 🇫🇷 soon ❤️ **now**"
    assert normalize_text(text) == "Great job see you soon now"
    kept = normalize_text(text, NormalizationOptions(strip_emoji=False, strip_markdown=False))
    assert "👍🏽" in kept and "**now**" in kept


ADVERSARIAL = ["1", ".", "/", "-", "1-", "1/", "1.", "1,", "$1", "a.", "I ", "(a", "*", "#", "1:1", "-1",
               "12/1/", "%1", "http://", "a@b.", "Dr. ", "II ", "1x", "1'", "\u2212", "\n", "[a](", "**a",
               "| ", "> ", "Henry ", "in 1914 ", "٣", "\ud800"]


@pytest.mark.timeout(60)  # linear: a few seconds on a loaded 2-core machine; quadratic: hours
@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_adversarial_input_of_100k_characters_is_normalized(unit: str) -> None:
    """Every rule is one bounded pass: 100,000 characters of a repeating pattern are read in
    seconds (a quadratic rule would take hours here, and fails the test's time limit), into a
    reading at most a bounded number of times longer, whose words map back into the input."""
    big = unit * (100_000 // len(unit))
    for lang in ("a", "e", "j"):
        normalized = normalize(clean_input(big), lang=lang)
        assert len(normalized.text) <= 10 * len(big), (lang, len(normalized.text))  # "#" -> " number ": 7
        assert normalized.source_span(0, len(normalized.text))[1] <= len(big)


# -- the way back: output ranges map to the input they came from ---------------------------------

def _spans(text: str) -> list[tuple[str, str]]:
    """Each output word with the input text it came from."""
    normalized = normalize(text)
    return [(m.group(), text[slice(*normalized.source_span(*m.span()))])
            for m in re.finditer(r"\S+", normalized.text)]


@pytest.mark.parametrize("text, expected", [
    ("$5 off", [("five", "$5"), ("dollars", "$5"), ("off", "off")]),
    ("In 1984 it rained.", [("In", "In"), ("nineteen", "1984"), ("eighty-four", "1984"), ("it", "it"),
                            ("rained.", "rained.")]),
    ("  Dr.   Who  ", [("Doctor", "Dr."), ("Who", "Who")]),
    ("a\x00b", [("a", "a"), ("b", "b")]),
])
def test_output_words_map_back_to_their_input(text: str, expected: list[tuple[str, str]]) -> None:
    assert _spans(text) == expected


def test_source_span_of_part_of_copied_text_is_exact_and_of_a_replacement_is_whole() -> None:
    normalized = normalize("pay $5 now")
    assert normalized.text == "pay five dollars now"
    assert normalized.source_span(1, 3) == (1, 3)  # "ay"
    assert normalized.source_span(5, 7) == (4, 6)  # "iv" of "five" -> "$5"
    assert normalized.source_span(0, len(normalized.text)) == (0, 10)
    assert normalized.source_span(4, 4) == (4, 4)  # empty ranges map to a point
    with pytest.raises(ValueError):
        normalized.source_span(3, 100)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 .,$%:/-aZ\n'(I)km°"), max_size=60) | st.text(max_size=60))
def test_any_text_normalizes_with_spans_in_order(text: str) -> None:
    normalized = normalize(text)
    previous_end = 0
    for match in re.finditer(r"\S+", normalized.text):
        start, end = normalized.source_span(*match.span())
        assert 0 <= start <= end <= len(text)
        assert end >= previous_end  # output words come from the input in its order
        previous_end = end
