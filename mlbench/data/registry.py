"""Dataset registry: every dataset mlbench knows, with its upstream files and checksums.

A dataset is added in one place: a :class:`DatasetSpec` in :data:`DATASETS`. Each spec lists one
or more sources, tried in order; each source is a set of upstream files (URL, byte size,
sha256) and a format:

- ``mulan``: ARFF file(s) plus the Mulan XML file naming the label attributes (authoritative).
  Files with role ``train``/``test`` are the standard upstream split; ``all`` means no split.
- ``meka``: one ARFF whose ``@relation`` holds ``-C k`` (the first k attributes are labels).
- ``bundle``: the MPVAE/C-GMVAE ``<name>_data.npy`` + ``<name>_{train,val,test}_idx.npy``
  bundle, imported from local files with ``mlbench fetch NAME --from DIR`` (the authors' links
  are dead); public index files, where they exist, are downloaded and checked against it.

The union files Mulan also ships (``<name>.arff``) are the concatenation of train and test, so
they are not fetched: the split files give the same data plus the upstream train/test membership.

Only the built-in datasets: :func:`mlbench.data.user_registry.get_dataset` looks a name up here
and then in the user's registry (which imports this module, never the reverse).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlbench.errors import MlbenchError


@dataclass(frozen=True)
class RemoteFile:
    url: str
    sha256: str
    size: int
    role: str  # train | test | all | xml | train_idx | val_idx | test_idx

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Source:
    name: str  # mulan | meka | boomer | bundle
    format: str  # mulan | meka | bundle
    files: tuple[RemoteFile, ...]

    @property
    def has_upstream_split(self) -> bool:
        return any(f.role in ("train", "train_idx") for f in self.files)


@dataclass(frozen=True)
class BundleLayout:
    """Column layout of an MPVAE/C-GMVAE ``<name>_data.npy``: meta | labels | features."""

    n_labels: int
    n_features: int | None  # None: not published; taken from the bundle
    meta_offset: int = 0


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    domain: str
    n_samples: int | None  # all samples (upstream train + test), as published
    n_features: int | None
    n_labels: int
    cardinality: float | None  # mean labels per sample, as published
    sources: tuple[Source, ...]
    bundle: BundleLayout | None = None
    drop: tuple[str, ...] = ()  # identifier attributes that are not features
    notes: str = ""
    aliases: tuple[str, ...] = field(default=())
    origin: str = "registry"  # registry | local (files of the user) | user (a user registry's URLs)

    @property
    def is_bundle(self) -> bool:
        return self.bundle is not None

    def source(self, name: str | None = None) -> Source:
        if name is None:
            return self.sources[0]
        for source in self.sources:
            if source.name == name:
                return source
        raise MlbenchError(
            f"dataset {self.name!r} has no source {name!r}; its sources are: {', '.join(s.name for s in self.sources)}."
        )


# Upstream files (generated from shared/datasets/files.tsv; sizes in bytes, sha256 of the
# file as served).
_MULAN_YEAST = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/yeast/yeast-train.arff",
        "e759dc991ff54694a4ff9c4314f3be0d6fd2b1994a4b563f57e416394c6aebbd",
        1501117,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/yeast/yeast-test.arff",
        "4aaac102bff9669a765bf0b378602e5cc8c3b181048282e2f003117b496d552a",
        918515,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/yeast/yeast.xml",
        "c3056cc26444b5158b1588d1b73bec9c45429e10f0957ad085903423cb81f247",
        526,
        "xml",
    ),
)

_MULAN_SCENE = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/scene/scene-train.arff",
        "b53ba93bdf412de922e3960389bcee24744fa3e872ce610511fc1d750888b64d",
        3127968,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/scene/scene-test.arff",
        "ea38d20296b3ff7e220f477a3b802a9bcb2d768881fe6ee163efbc97ea527a42",
        3090742,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/scene/scene.xml",
        "55d8b247b949ad5c52e5a73d8c6775ec6e5469ce9682465b45b333b68ee4bcc5",
        285,
        "xml",
    ),
)

_MULAN_EMOTIONS = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/emotions/emotions-train.arff",
        "bbe704106c79bb8fb99c1d1d2e9bde081d6a2daeb01f100862f11fd91a3c1f98",
        252080,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/emotions/emotions-test.arff",
        "f13d4b746b7b5c8eb484bd751d6ac463d4560dff998a93516a5c1fe35daf6c8f",
        132007,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/emotions/emotions.xml",
        "dbce8e6ccbbb2fcbfd9e9edbb230d7ed12692c6e13f59fdbc0161fa9b6cf2dc0",
        323,
        "xml",
    ),
)

_MULAN_ENRON = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/enron/enron-train.arff",
        "2988cefc1cdf7a8004a20ef84615cc8fa1b5d7434c16687283b41454e2d9d194",
        607799,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/enron/enron-test.arff",
        "2f3aad54a8f54caaab4ab01246fe9dd385ba944a2633028f52747b57eac5474e",
        324140,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/enron/enron.xml",
        "ed40c92d7f613eed51714912cab10dddc4ce456262137d8fef230d44c7f4457b",
        1604,
        "xml",
    ),
)

_MULAN_MEDICAL = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/medical/medical-train.arff",
        "c764f45756ab1c553b8b4eaaf5605a5610a43bbbcf37492d0f1a12bf9c9e2244",
        69680,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/medical/medical-test.arff",
        "6be472e75a6c0b0916187f343a398011b1b26f8f0ddc682c575312ad3532f6c4",
        99124,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/medical/medical.xml",
        "51fa9d5c09e48caff3f0a0c75db1c9aa85944f8e35451f3ad8bd56fc422286ce",
        1818,
        "xml",
    ),
)

_MULAN_BIBTEX = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/bibtex/bibtex-train.arff",
        "8dcc9de6e0b2cebaec8c1f4fac78431adeeb73cfd3ab879b530a66d366e59174",
        2292961,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/bibtex/bibtex-test.arff",
        "9b03329cde64d3f994bdf7fbbac3f3b10fe185c311cb9ae725475f59c7f3f922",
        1215637,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/bibtex/bibtex.xml",
        "08fe20013c1e75dcf1888c185f5187c95e76495b8518ce289b4d3afce38d1232",
        5880,
        "xml",
    ),
)

_MULAN_DELICIOUS = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/delicious/delicious-train.arff",
        "030186cdb542ebdd32052fcdbb1ebe30115b3a22518c1b4b198c45eb827aebe1",
        3056590,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/delicious/delicious-test.arff",
        "2dfb01723a819914b0ca83361177ed413ce3f2169851d9f228d4692915d63944",
        757565,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/delicious/delicious.xml",
        "4e0c0f93c7d86a39b9fca4aaefaa00e9428f2c80277732dfbf03ca48e2c14da2",
        34303,
        "xml",
    ),
)

_MULAN_GENBASE = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/genbase/genbase-train.arff",
        "37670db2c2b308a1c163d05501819526f1d65d659638ddfb76812d4ce384b5c6",
        1714007,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/genbase/genbase-test.arff",
        "0e988520bedab39aa3f23f08f646c769bcdb6f9119ee298fd92b37127b226a36",
        758739,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/genbase/genbase.xml",
        "198e8a1d7070e9603119e02e626cedc589db7577339b307b06f5192047b69eb9",
        992,
        "xml",
    ),
)

_MULAN_BIRDS = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/birds/birds-train.arff",
        "8f215db6ee163149901e753977f631ba8bea0e0e8e1abc42b234414822f8ae36",
        539367,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/birds/birds-test.arff",
        "51ba6326d65ccdd7c755b6461280eb6d2769c7f59d8e12fd4250f91e6ca28326",
        540883,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/birds/birds.xml",
        "0f4ea547b2b3d538c8402662daf689e0d4520cc8b4f5ba113c2e7c01700f010f",
        889,
        "xml",
    ),
)

_MULAN_FLAGS = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/flags/flags-train.arff",
        "1861cdab7f8baf1aef6fb6198f304465ddfd99b7f9a435337c604119522df3c5",
        7707,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/flags/flags-test.arff",
        "09f6136fae47dcc2f0f491efd6401a11072cbfb0bfbb2666c63b35bb06aeeb16",
        4218,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/flags/flags.xml",
        "7c9ed21a91b716b91f811323e20ee5a260ea2da62a5edcfeb1b91ec855a48f17",
        304,
        "xml",
    ),
)

_MULAN_TMC2007 = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/tmc2007/tmc2007-500-train.arff",
        "edfe7b7615c6f80e54c92a214437610d1ae36560c5cc6c4253b51c434d258273",
        3152791,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/tmc2007/tmc2007-500-test.arff",
        "b24f9c3f1eba77c9da0bbaff093ba41d331b7351be0167a8e1e3852c62e25e38",
        1054414,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/tmc2007/tmc2007-500.xml",
        "cb6a67c8ae72fd9b47d89f77aa5b7f6cafb4ba9c20b1124c65a95a3f2caec38d",
        783,
        "xml",
    ),
)

_MULAN_COREL5K = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/corel5k/Corel5k-train-sparse.arff",
        "19eb253c447144bea74ffa86b4731a56022addae2ba7d0aab72ad07fdc02e9b3",
        339535,
        "train",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/corel5k/Corel5k-test-sparse.arff",
        "e8f8e9cd052c43ba7bdfdf99d242f461fc8c2a03163466d921e576887b51d8a7",
        60876,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/corel5k/Corel5k.xml",
        "54ef6a6ccb7ca9b77524052b34b306d5d501661a5609b9d1cc7085b2b597679d",
        11222,
        "xml",
    ),
)

_MULAN_CAL500 = (
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/cal500/cal500.arff",
        "cfe6097ba5fd6e8584e54911ab9783dcab34e898446b7c9370c71d477eae56d3",
        492857,
        "all",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/tsoumakas/mulan/master/data/multi-label/cal500/cal500.xml",
        "877e128531268d7661faa3e44f7bb43cbcda829c0895e49879168775b192728c",
        7901,
        "xml",
    ),
)

_MEKA_YEAST = (
    RemoteFile(
        "https://raw.githubusercontent.com/Waikato/meka/master/src/main/data/Yeast.arff.bz2",
        "98da124ba009c4ee2f8323076d6ec13442e6eaedc66314e88f289375d3ef5ab5",
        703814,
        "all",
    ),
)

_MEKA_SCENE = (
    RemoteFile(
        "https://raw.githubusercontent.com/Waikato/meka/master/src/main/data/Scene.arff.bz2",
        "f560b40697d89803a6d260aa737e0879cf3699abb9a761f7cd3deab5c2a6d0a6",
        1999024,
        "all",
    ),
)

_MEKA_EMOTIONS = (
    RemoteFile(
        "https://raw.githubusercontent.com/Waikato/meka/master/src/main/data/Music.arff",
        "276be786e33b2ec11b91147483aa5758d8df6eb8b55f8ac82e5e0b231f0270b5",
        382468,
        "all",
    ),
)

_MEKA_ENRON = (
    RemoteFile(
        "https://raw.githubusercontent.com/Waikato/meka/master/src/main/data/Enron.arff.bz2",
        "d8e629fd9cfce500845fbfe80aeba9e73572b877e42b919d9347858c57dcbdd8",
        75940,
        "all",
    ),
)

_BOOMER_MEDIAMILL = (
    RemoteFile(
        "https://media.githubusercontent.com/media/mrapp-ke/Boomer-Datasets/main/mediamill_training.arff",
        "cc03255aff4ed26a56bf0607c194f1257a36eba4816b2733bbf384db30530475",
        37326673,
        "train",
    ),
    RemoteFile(
        "https://media.githubusercontent.com/media/mrapp-ke/Boomer-Datasets/main/mediamill_test.arff",
        "7dec9a71c8eaa2ec2f7d911d9bc52f8c4a3025100a2693b4a4acf0c52c2dfafe",
        18387794,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/mrapp-ke/Boomer-Datasets/main/mediamill.xml",
        "960991532485541a885868c269bf454a6ecdcea3f821ad29ae516eaa5a1bd43b",
        3225,
        "xml",
    ),
)

_BOOMER_BOOKMARKS = (
    RemoteFile(
        "https://media.githubusercontent.com/media/mrapp-ke/Boomer-Datasets/main/bookmarks_training.arff",
        "01027d75e74b48799fd83bc81242c6e27a615e0c19e486723462e4b413412983",
        49035720,
        "train",
    ),
    RemoteFile(
        "https://media.githubusercontent.com/media/mrapp-ke/Boomer-Datasets/main/bookmarks_test.arff",
        "cab9015f9fb274ce95fcf4f6a300b6e09347ba10fc25aa11ea17fe454ac714d3",
        24296394,
        "test",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/mrapp-ke/Boomer-Datasets/main/bookmarks.xml",
        "710acecc1aa359f357df8766e9359190e2788c05e4927bc73dc280d3b80c9d97",
        7547,
        "xml",
    ),
)

_BOOMER_NUSWIDE = (
    RemoteFile(
        "https://media.githubusercontent.com/media/mrapp-ke/Boomer-Datasets/main/nus-wide-cvladplus.arff",
        "de774631a5404704471648c538369767390525bd791ab7a4f863f45cced81c31",
        367912118,
        "all",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/mrapp-ke/Boomer-Datasets/main/nus-wide-cvladplus.xml",
        "a9eea143406e7a83cdf489951d2d853a29e53beae1a1096e3d4671e81dad1e02",
        2495,
        "xml",
    ),
)

_MIRFLICKR_INDEX = (
    RemoteFile(
        "https://raw.githubusercontent.com/JunwenBai/C-GMVAE/master/data/mirflickr/mirflickr_train_idx.npy",
        "d11caf81b689c48e53444c29efe66e31e2691be3564e51f6c6bff4e4ad08391c",
        78696,
        "train_idx",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/JunwenBai/C-GMVAE/master/data/mirflickr/mirflickr_val_idx.npy",
        "ba189945b09a80cf5279518dab0fa4fd4ca98b65d2890b752213d1b74d75b4ac",
        19768,
        "val_idx",
    ),
    RemoteFile(
        "https://raw.githubusercontent.com/JunwenBai/C-GMVAE/master/data/mirflickr/mirflickr_test_idx.npy",
        "4e8a47435ab0f93b0a99511b09cc27af64f19f13b5233cfa2f4fe0256a4d5d92",
        98568,
        "test_idx",
    ),
)


def _mulan(files: tuple[RemoteFile, ...], name: str = "mulan") -> Source:
    return Source(name, "mulan", files)


def _meka(files: tuple[RemoteFile, ...]) -> Source:
    return Source("meka", "meka", files)


_BUNDLE_NOTE = (
    "Distributed by the MPVAE/C-GMVAE authors as <name>_data.npy plus "
    "<name>_{train,val,test}_idx.npy; their Google Drive/Baidu links are dead "
    "(see github.com/JunwenBai/MPVAE). Import a copy you have with `mlbench fetch NAME --from DIR`."
)

_SPECS = [
    DatasetSpec("yeast", "biology", 2417, 103, 14, 4.24, (_mulan(_MULAN_YEAST), _meka(_MEKA_YEAST))),
    DatasetSpec("scene", "image", 2407, 294, 6, 1.07, (_mulan(_MULAN_SCENE), _meka(_MEKA_SCENE))),
    DatasetSpec(
        "emotions",
        "music",
        593,
        72,
        6,
        1.87,
        (_mulan(_MULAN_EMOTIONS), _meka(_MEKA_EMOTIONS)),
        notes="MEKA's Music.arff has one row and one feature fewer than Mulan's.",
    ),
    DatasetSpec("enron", "text", 1702, 1001, 53, 3.38, (_mulan(_MULAN_ENRON), _meka(_MEKA_ENRON))),
    DatasetSpec("medical", "text", 978, 1449, 45, 1.25, (_mulan(_MULAN_MEDICAL),)),
    DatasetSpec("bibtex", "text", 7395, 1836, 159, 2.40, (_mulan(_MULAN_BIBTEX),)),
    DatasetSpec("delicious", "text", 16105, 500, 983, 19.02, (_mulan(_MULAN_DELICIOUS),)),
    DatasetSpec("tmc2007-500", "text", 28596, 500, 22, 2.16, (_mulan(_MULAN_TMC2007),), aliases=("tmc2007",)),
    DatasetSpec("corel5k", "image", 5000, 499, 374, 3.52, (_mulan(_MULAN_COREL5K),)),
    DatasetSpec(
        "genbase",
        "biology",
        662,
        1185,
        27,
        1.25,
        (_mulan(_MULAN_GENBASE),),
        drop=("protein",),
        notes="The 'protein' identifier column is dropped.",
    ),
    DatasetSpec("birds", "audio", 645, 260, 19, 1.01, (_mulan(_MULAN_BIRDS),), notes="Many samples have no label."),
    DatasetSpec(
        "cal500",
        "music",
        502,
        68,
        174,
        26.04,
        (_mulan(_MULAN_CAL500),),
        notes="No upstream train/test split.",
        aliases=("CAL500",),
    ),
    DatasetSpec("flags", "image", 194, 19, 7, 3.39, (_mulan(_MULAN_FLAGS),)),
    DatasetSpec("mediamill", "video", 43907, 120, 101, 4.38, (_mulan(_BOOMER_MEDIAMILL, "boomer"),)),
    DatasetSpec("bookmarks", "text", 87856, 2150, 208, 2.03, (_mulan(_BOOMER_BOOKMARKS, "boomer"),), aliases=("bkms",)),
    DatasetSpec(
        "nus-wide-cvladplus",
        "image",
        269648,
        128,
        81,
        1.87,
        (_mulan(_BOOMER_NUSWIDE, "boomer"),),
        notes="No upstream train/test split; 368 MB download.",
    ),
    # MPVAE / C-GMVAE vector bundles (label/feature counts from the official scripts).
    DatasetSpec(
        "mirflickr",
        "image",
        25000,
        1000,
        38,
        4.80,
        (Source("bundle", "bundle", _MIRFLICKR_INDEX),),
        bundle=BundleLayout(38, 1000),
        notes=_BUNDLE_NOTE,
    ),
    DatasetSpec(
        "ebird",
        "ecology",
        41778,
        15,
        100,
        20.69,
        (Source("bundle", "bundle", ()),),
        bundle=BundleLayout(100, 15, meta_offset=2),
        notes=_BUNDLE_NOTE,
    ),
    DatasetSpec(
        "nus-vec",
        "image",
        269648,
        128,
        81,
        1.86,
        (Source("bundle", "bundle", ()),),
        bundle=BundleLayout(81, 128),
        notes=_BUNDLE_NOTE + " The C-GMVAE paper's Table 6 says 85 labels; the official MPVAE script uses 81.",
        aliases=("nuswide_vector",),
    ),
    DatasetSpec(
        "sider",
        "biology",
        1427,
        38,
        27,
        15.3,
        (Source("bundle", "bundle", ()),),
        bundle=BundleLayout(27, 38),
        notes=_BUNDLE_NOTE,
    ),
    DatasetSpec(
        "reuters",
        "text",
        10789,
        None,
        90,
        1.23,
        (Source("bundle", "bundle", ()),),
        bundle=BundleLayout(90, None),
        notes=_BUNDLE_NOTE + " Feature count not published; taken from the bundle.",
    ),
    DatasetSpec(
        "fish",
        "ecology",
        None,
        46,
        12,
        None,
        (Source("bundle", "bundle", ()),),
        bundle=BundleLayout(12, 46),
        notes=_BUNDLE_NOTE + " Sample count not published.",
    ),
]

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in _SPECS}
ALIASES = {alias.lower(): spec.name for spec in _SPECS for alias in spec.aliases}
