"""Tests for gaia_audio.data.annotations: every annotation format crowsetta reads, through
read_annotations, with small files written here the way each tool writes them."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import soundfile as sf

from gaia_audio.data import annotations
from gaia_audio.data.annotations import read_annotations
from gaia_audio.errors import DataError

# ------------------------------------------------------------------ Praat TextGrid

LONG_TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.5
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "TextTier"
        name = "clicks"
        xmin = 0
        xmax = 2.5
        points: size = 1
        points [1]:
            number = 0.7
            mark = "c"
    item [2]:
        class = "IntervalTier"
        name = "words"
        xmin = 0
        xmax = 2.5
        intervals: size = 4
        intervals [1]:
            xmin = 0
            xmax = 0.4
            text = ""
        intervals [2]:
            xmin = 0.4
            xmax = 1.1
            text = "say ""hi"" [2]"
        intervals [3]:
            xmin = 1.1
            xmax = 1.5
            text = "   "
        intervals [4]:
            xmin = 1.5
            xmax = 2.5
            text = "thére"
'''

SHORT_TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

0
2.5
<exists>
2
"IntervalTier"
"words"
0
2.5
2
0
1.25
"one"
1.25
2.5
""
"IntervalTier"
"phones"
0
2.5
2
0
0.5
"w"
0.5
2.5
"ʌn"
'''




@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_textgrid_long_format(tmp_path, encoding):
    path = tmp_path / "a.TextGrid"
    path.write_text(LONG_TEXTGRID, encoding=encoding)
    expected = [(0.4, 1.1, 'say "hi" [2]'), (1.5, 2.5, "thére")]  # blank intervals skipped, point tier too
    assert read_annotations(path) == expected
    assert read_annotations(path, tier="words") == expected
    assert read_annotations(path, "textgrid", tier="words") == expected


def test_textgrid_short_format_and_tiers(tmp_path):
    path = tmp_path / "b.TextGrid"
    path.write_text(SHORT_TEXTGRID, encoding="utf-8")
    assert read_annotations(path) == [(0.0, 1.25, "one")]
    assert read_annotations(path, tier="phones") == [(0.0, 0.5, "w"), (0.5, 2.5, "ʌn")]
    with pytest.raises(DataError, match="no interval tier 'syllables'.*words, phones") as info:
        read_annotations(path, tier="syllables")
    assert str(path) in str(info.value)


# crowsetta's own messages where its parser finds the fault (not ours, which gave line numbers)
@pytest.mark.parametrize("text, match", [
    (SHORT_TEXTGRID[:120], "malformed TextGrid"),
    (SHORT_TEXTGRID.replace('"TextGrid"', '"Sound"'), "not a Praat TextGrid"),
    (SHORT_TEXTGRID.replace('0\n1.25\n"one"', '1.3\n1.25\n"one"'), "xmax must be greater than xmin"),
    ("hello world", "not a Praat TextGrid|malformed"),
    ("", "malformed"),
])
def test_textgrid_malformed(tmp_path, text, match):
    path = tmp_path / "bad.TextGrid"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        read_annotations(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_textgrid_faults_crowsetta_passes_over(tmp_path):
    """crowsetta skips empty intervals unread (so their times go unchecked) and does not check tier
    classes (an unknown one repeats the tier before it): only a request for that tier fails."""
    path = tmp_path / "odd.TextGrid"
    path.write_text(SHORT_TEXTGRID.replace("1.25\n2.5\n\"\"", "1.25\n1.0\n\"\""))
    assert read_annotations(path) == [(0.0, 1.25, "one")]
    path.write_text(SHORT_TEXTGRID.replace('"IntervalTier"\n"phones"', '"WeirdTier"\n"phones"'))
    with pytest.raises(DataError, match="no interval tier 'phones'") as info:
        read_annotations(path, tier="phones")
    assert "\n" not in str(info.value)


def test_textgrid_binary_missing_and_lower_case_name(tmp_path):
    (tmp_path / "bin.TextGrid").write_bytes(b"ooBinaryFile\x08TextGrid\x00\x01")
    with pytest.raises(DataError, match="binary"):
        read_annotations(tmp_path / "bin.TextGrid")
    with pytest.raises(DataError, match="not found"):
        read_annotations(tmp_path / "none.TextGrid")
    (tmp_path / "c.textgrid").write_text(SHORT_TEXTGRID)  # crowsetta insists on Praat's spelling
    with pytest.raises(DataError, match="only with a name ending in .TextGrid"):
        read_annotations(tmp_path / "c.textgrid")


# ------------------------------------------------------------------ Audacity label tracks

def test_audacity_labels(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("0.100000\t0.250000\tsyl a\n\\\t1000.0\t8000.0\n\n0.300000\t0.450000\n0.5\t0.5\tpoint\n"
                    "0.6\t0.7\t02\n0.8\t0.9\t\n1.0\t1.1\tNA\n1.2\t1.3\t\"quoted\" b\n")
    assert read_annotations(path) == [(0.1, 0.25, "syl a"), (0.3, 0.45, ""), (0.6, 0.7, "02"), (0.8, 0.9, ""),
                                      (1.0, 1.1, "NA"), (1.2, 1.3, '"quoted" b')]


def test_audacity_labels_with_frequency_lines_as_aud_bbox(tmp_path):
    path = tmp_path / "spinetail.txt"  # Audacity's export of regions drawn on a spectrogram
    path.write_text("0.101385\t0.367520\tSP\n\\\t6441.064453\t12296.577148\n0.506924\t3.041545\tCRER\n"
                    "\\\t4000.0\t9000.0\n")
    expected = [(0.101385, 0.36752, "SP"), (0.506924, 3.041545, "CRER")]
    assert read_annotations(path, "aud-bbox") == expected
    assert read_annotations(path) == expected  # aud-seq skips the frequency lines


# a label holding a tab: crowsetta (pandas) refuses the extra field, where our own reader joined them
@pytest.mark.parametrize("text, match", [
    ("0.1 0.2 a\n", "malformed Audacity label file"),
    ("0.1\t0.2\ta\nabc\t0.3\tb\n", "malformed Audacity label file"),
    ("0.1\t0.2\ta\n0.6\t0.7\tb\tc\n", "malformed Audacity label file"),
    ("0.3\t0.2\ta\n", "bad label times"),
    ("", "no label regions"),
])
def test_audacity_labels_malformed(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=match) as info:
        read_annotations(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


# ------------------------------------------------------------------ the other formats crowsetta reads

RAVEN_HEADER = "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\tHigh Freq (Hz)\t"


def test_raven_selection_table(tmp_path):
    path = tmp_path / "rec.Table.1.selections.txt"  # Raven's own name: found by the extension
    path.write_text(RAVEN_HEADER + "Annotation\n"
                    "1\tWaveform 1\t1\t0.5\t0.75\t0.000\t16000.000\tA\n"  # one selection, two views: once
                    "1\tSpectrogram 1\t1\t0.5\t0.75\t0.000\t16000.000\tA\n"
                    "2\tSpectrogram 1\t1\t1.0\t1.2\t1000.0\t8000.0\tB\n")
    assert read_annotations(path) == [(0.5, 0.75, "A"), (1.0, 1.2, "B")]
    other = tmp_path / "birds.txt"  # another label column, and a plain .txt name: the format is given
    other.write_text(RAVEN_HEADER + "Species\n1\tSpectrogram 1\t1\t154.387\t154.911\t2878.2\t4049.0\tEATO\n")
    assert read_annotations(other, "raven", tier="Species") == [(154.387, 154.911, "EATO")]
    with pytest.raises(DataError, match="raven.*annotation"):
        read_annotations(other, "raven")


def test_notmat_as_evsonganaly_writes_it(tmp_path):
    path = tmp_path / "song.wav.not.mat"
    scipy.io.savemat(path, {"fname": "song.wav", "Fs": 32000.0, "labels": "iab",  # one character per label
                            "onsets": np.array([100.0, 250.5, 400.0]), "offsets": np.array([180.0, 330.0, 460.25]),
                            "min_dur": 20.0, "min_int": 5.0, "sm_win": 2.0, "threshold": 5000.0})  # times in ms
    assert read_annotations(path) == [(0.1, 0.18, "i"), (0.2505, 0.33, "a"), (0.4, 0.46025, "b")]
    scipy.io.savemat(tmp_path / "one.wav.not.mat", {"fname": "one.wav", "Fs": 32000.0, "labels": "a",
                                                    "onsets": 100.0, "offsets": 180.0})  # scalars, as MATLAB saves one
    assert read_annotations(tmp_path / "one.wav.not.mat") == [(0.1, 0.18, "a")]


def test_simple_seq_csv(tmp_path):
    path = tmp_path / "rec.csv"
    path.write_text("onset_s,offset_s,label\n0.1,0.2,02\n0.3,0.4,NA\n0.5,0.6,\n")
    assert read_annotations(path) == [(0.1, 0.2, "02"), (0.3, 0.4, "NA"), (0.5, 0.6, "")]
    (tmp_path / "bad.csv").write_text("start,stop,name\n0.1,0.2,a\n")
    with pytest.raises(DataError, match="bad.csv: malformed simple-seq file.*column names"):
        read_annotations(tmp_path / "bad.csv")


def test_generic_seq_csv_of_several_recordings(tmp_path):
    path = tmp_path / "all.csv"
    path.write_text("label,onset_s,offset_s,notated_path,annot_path,sequence,annotation\n"
                    "a,0.1,0.2,a.wav,all.csv,0,0\nb,0.3,0.4,a.wav,all.csv,0,0\nc,0.5,0.6,/data/b.wav,all.csv,0,1\n")
    assert read_annotations(path, "generic-seq", notated_path=tmp_path / "a.wav") == [(0.1, 0.2, "a"), (0.3, 0.4, "b")]
    assert read_annotations(path, "generic-seq", notated_path="b.wav") == [(0.5, 0.6, "c")]
    with pytest.raises(DataError, match="annotations of 2 recordings"):
        read_annotations(path, "generic-seq")
    with pytest.raises(DataError, match="no annotation of c.wav .it annotates a.wav, b.wav"):
        read_annotations(path, "generic-seq", notated_path="c.wav")


def test_timit_counts_samples_of_the_wav_beside_it(tmp_path):
    sf.write(tmp_path / "sa1.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "sa1.phn").write_text("0 3050 h#\n3050 4559 sh\n4559 5723 ix\n")
    assert read_annotations(tmp_path / "sa1.phn") == [(0.0, 0.190625, "h#"), (0.190625, 0.2849375, "sh"),
                                                      (0.2849375, 0.3576875, "ix")]


def test_yarden_mat_of_several_recordings(tmp_path):
    songs = [{"segFileStartTimes": np.array([0.1, 0.5]), "segFileEndTimes": np.array([0.3, 0.7]),
              "segType": np.array([1, 2]), "fs": 48000},
             {"segFileStartTimes": np.array([0.2]), "segFileEndTimes": np.array([0.4]), "segType": np.array([3]),
              "fs": 48000}]
    scipy.io.savemat(tmp_path / "bird.mat", {"keys": np.array(["c1.wav", "c2.wav"], dtype=object),
                                             "elements": np.array(songs, dtype=object)})
    assert read_annotations(tmp_path / "bird.mat", notated_path="c1.wav") == [(0.1, 0.3, "1"), (0.5, 0.7, "2")]
    assert read_annotations(tmp_path / "bird.mat", "yarden", notated_path="c2.wav") == [(0.2, 0.4, "3")]


def test_birdsong_recognition_xml(tmp_path):
    (tmp_path / "Wave").mkdir()
    sf.write(tmp_path / "Wave" / "0.wav", np.zeros(64000, np.float32), 32000)
    (tmp_path / "Annotation.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<AnnotationSequences><Sequence><WaveFileName>0.wav</WaveFileName>'
        "<Position>3200</Position><Length>20000</Length><NumNote>2</NumNote>"
        "<Note><Position>0</Position><Length>1600</Length><Label>0</Label></Note>"
        "<Note><Position>3200</Position><Length>3200</Length><Label>1</Label></Note>"
        "</Sequence></AnnotationSequences>")  # positions in samples, notes relative to their sequence
    expected = [(0.1, 0.15, "0"), (0.2, 0.3, "1")]
    assert read_annotations(tmp_path / "Annotation.xml", notated_path=tmp_path / "Wave" / "0.wav") == expected
    assert read_annotations(tmp_path / "Annotation.xml", "birdsong-rec") == expected


def test_format_names_and_extensions(tmp_path):
    assert annotations.annotation_format("x/rec.TextGrid") == "textgrid"
    assert annotations.annotation_format("rec.wav.not.mat") == "notmat"
    assert annotations.annotation_format("rec.Table.1.selections.txt") == "raven"
    assert annotations.annotation_format("rec.txt") == "aud-seq"
    assert annotations.annotation_format("rec.csv") == "simple-seq"
    assert annotations.annotation_format("rec.csv", "generic-seq") == "generic-seq"
    import crowsetta

    assert set(annotations.FORMAT_NAMES) == set(crowsetta.formats.as_list())  # every format crowsetta reads
    (tmp_path / "a.foo").write_text("0.1\t0.2\ta\n")
    with pytest.raises(DataError, match="a.foo: cannot tell the annotation format"):
        read_annotations(tmp_path / "a.foo")
    with pytest.raises(DataError, match="a.foo: crowsetta reads 'aud-seq' files only with a name ending in .txt"):
        read_annotations(tmp_path / "a.foo", "audacity")
    (tmp_path / "a.txt").write_text("0.1\t0.2\ta\n")
    assert read_annotations(tmp_path / "a.txt", "audacity") == read_annotations(tmp_path / "a.txt") == [(0.1, 0.2, "a")]
    with pytest.raises(DataError, match="unknown annotation format 'elan'"):
        read_annotations(tmp_path / "a.foo", "elan")
    with pytest.raises(DataError, match="only with a name ending in .not.mat"):
        read_annotations(tmp_path / "a.foo", "notmat")
