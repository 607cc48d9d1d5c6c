"""How close the request budget's audio estimate (src/kokoro_server/budget.py) comes to the audio made.

For each input of a small corpus (prose, numbers, digits, spelled letters, given phonemes, each
language with a front end, three speeds) the estimate that ``prepare`` decides before any audio is
compared with the length of the audio the real model then makes. Prints one row per input and the
spread of actual/estimate; the budget wants the estimate near the actual length and rather above it.

    python bench/estimate.py [--data-dir DIR]    # DIR: a data dir with the voices (default: a temp
                                                 # one linking ../shared/assets/voices/v1_0)
"""

from __future__ import annotations

import argparse
import statistics
import time

from workload import data_dir

from kokoro_server.service import SpeechRequest, SpeechService
from kokoro_server.settings import Settings

PROSE = ("The old lighthouse stood at the edge of the cliff, its white paint peeling in the salt wind. "
         "Every evening the keeper climbed the narrow stairs, lit the lamp, and watched the ships pass. "
         "Nobody remembered when he had arrived, or why he stayed.")
NUMBERS = ("In 1984, about 3,500 people paid $12.50 each; by 2023 the price was 47% higher. "
           "Call 555-0142 before 9:30 am on March 3rd, or write to Suite 210.")
CORPUS: list[tuple[str, str, dict[str, object]]] = [
    ("prose", PROSE, {}),
    ("prose, speed 0.5", PROSE, {"speed": 0.5}),
    ("prose, speed 2", PROSE, {"speed": 2.0}),
    ("prose, en-gb", PROSE, {"voice": "bf_emma"}),
    ("prose, am_michael", PROSE, {"voice": "am_michael"}),
    ("numbers", NUMBERS, {}),
    ("dialogue", '"Are you coming?" she asked. "No," he said. "Not tonight. Maybe tomorrow, if it stops raining."', {}),
    ("list", "Eggs, milk, flour, butter, sugar, salt, apples, lemons, rice and beans.", {}),
    ("digits x200", "7" * 200, {}),
    ("ones x300", "1" * 300, {}),
    ("spelled", '<speak><say-as interpret-as="characters">KOKORO82M</say-as> and '
                '<say-as interpret-as="characters">ABCDEFGHIJKLMNOP</say-as></speak>', {}),
    ("symbols", "5 % of 20 & 30 @ home # 4 + 6 = 10", {}),
    ("phoneme markup", "[Kokoro](/kəkˈɔɹO/) says [hello](/həlˈO/) to the [world](/wˈɜɹld/).", {}),
    ("phonemes", "ðə kwˈɪk bɹˈWn fˈɑks ʤˈʌmps ˈOvəɹ ðə lˈAzi dˈɔɡ", {"input_format": "phonemes"}),
    ("pauses", "One. [pause:2s] Two. [pause:1.5s] Three.", {}),
    ("es", "El viejo faro estaba al borde del acantilado. Cada tarde, el guardián subía la escalera estrecha.",
     {"voice": "ef_dora"}),
    ("fr", "Le vieux phare se dressait au bord de la falaise. Chaque soir, le gardien montait l'escalier étroit.",
     {"voice": "ff_siwis"}),
    ("it", "Il vecchio faro si ergeva sul bordo della scogliera. Ogni sera il guardiano saliva le scale.",
     {"voice": "if_sara"}),
    ("pt-br", "O velho farol ficava na beira do penhasco. Toda noite, o guardião subia a escada estreita.",
     {"voice": "pf_dora"}),
    ("hi", "पुराना प्रकाशस्तंभ चट्टान के किनारे खड़ा था। हर शाम रखवाला सीढ़ियाँ चढ़ता था।", {"voice": "hf_alpha"}),
    ("ja", "古い灯台は崖の端に立っていた。毎晩、灯台守は狭い階段を上った。", {"voice": "jf_alpha"}),
    ("zh", "古老的灯塔矗立在悬崖边上。每天晚上，看守人都会爬上狭窄的楼梯。", {"voice": "zf_xiaobei"}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    service = SpeechService(Settings(data_dir=data_dir(args.data_dir), fast_model=False))
    ratios = []
    started = time.perf_counter()
    print(f"{'input':<20} {'chars':>6} {'estimate s':>10} {'actual s':>9} {'actual/estimate':>15}")
    for name, text, extra in CORPUS:
        prepared = service.prepare(SpeechRequest(text=text, **extra))  # type: ignore[arg-type]
        actual = sum(chunk.seconds for chunk in service.stream(prepared))
        ratio = actual / prepared.estimate.seconds
        ratios.append(ratio)
        print(f"{name:<20} {len(text):>6} {prepared.estimate.seconds:>10.2f} {actual:>9.2f} {ratio:>15.2f}", flush=True)
    print(f"\nactual/estimate over {len(ratios)} inputs: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f} ({time.perf_counter() - started:.0f} s)")
    service.close()


if __name__ == "__main__":
    main()
