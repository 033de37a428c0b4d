"""Hard-coded profile of each real HSCP used to shape the synthetic Scotland.

Populations are approximate mid-2020 figures in thousands (order-of-magnitude realism is the aim);
`deprivation` is a latent tilt (positive = more deprived than Scotland); `rurality` names one of the
urban-rural mixes in RURALITY_MIXES; `councils` are the real council-area codes (S12) with the share of
the HSCP's data zones in each; `places` are real town or district names used for cluster and practice
names. No real practice, patient or small-area statistic is copied here.
"""

from __future__ import annotations

from dataclasses import dataclass

# Probability of each Scottish Government 8-fold urban-rural class (1 large urban .. 8 very remote rural).
RURALITY_MIXES: dict[str, tuple[float, ...]] = {
    "city": (0.93, 0.05, 0.0, 0.0, 0.0, 0.02, 0.0, 0.0),
    "suburban": (0.45, 0.33, 0.06, 0.0, 0.0, 0.16, 0.0, 0.0),
    "urban": (0.0, 0.74, 0.12, 0.0, 0.0, 0.14, 0.0, 0.0),
    "mixed": (0.0, 0.50, 0.16, 0.02, 0.0, 0.26, 0.06, 0.0),
    "rural": (0.0, 0.28, 0.14, 0.08, 0.02, 0.22, 0.18, 0.08),
    "remote": (0.0, 0.16, 0.05, 0.10, 0.10, 0.08, 0.21, 0.30),
    "island": (0.0, 0.0, 0.0, 0.0, 0.38, 0.0, 0.0, 0.62),
}


@dataclass(frozen=True)
class HscpProfile:
    code: str
    population_k: float
    deprivation: float
    rurality: str
    councils: tuple[tuple[str, float], ...]
    places: tuple[str, ...]
    numbered_clusters: str = ""  # city HSCPs name clusters "<prefix> <n>" like the real "Dundee 4"


HSCP_PROFILES: tuple[HscpProfile, ...] = (
    HscpProfile("S37000001", 229, -0.2, "city", (("S12000033", 1.0),),
                ("Aberdeen City Central", "Aberdeen City North", "Aberdeen City South", "Aberdeen City West",
                 "Torry", "Dyce", "Bucksburn", "Bridge of Don", "Kincorth", "Northfield")),
    HscpProfile("S37000002", 261, -0.7, "rural", (("S12000034", 1.0),),
                ("Banff", "Fraserburgh", "Peterhead", "Ellon", "Inverurie", "Huntly", "Westhill",
                 "Stonehaven", "Banchory", "Turriff", "Portsoy", "Ballater")),
    HscpProfile("S37000003", 116, -0.15, "mixed", (("S12000041", 1.0),),
                ("Arbroath", "Forfar", "Montrose", "Brechin", "Carnoustie", "Monifieth", "Kirriemuir")),
    HscpProfile("S37000004", 86, -0.25, "remote", (("S12000035", 1.0),),
                ("Oban", "Helensburgh", "Dunoon", "Campbeltown", "Lochgilphead", "Rothesay", "Tobermory",
                 "Inveraray")),
    HscpProfile("S37000005", 146, 0.0, "mixed", (("S12000005", 0.37), ("S12000030", 0.63)),
                ("Alloa", "Stirling", "Dunblane", "Bridge of Allan", "Callander", "Tullibody", "Bannockburn",
                 "Killin")),
    HscpProfile("S37000006", 148, -0.05, "remote", (("S12000006", 1.0),),
                ("Dumfries", "Stranraer", "Annan", "Castle Douglas", "Lockerbie", "Newton Stewart",
                 "Dalbeattie", "Kirkcudbright", "Moffat", "Sanquhar")),
    HscpProfile("S37000007", 149, 0.7, "city", (("S12000042", 1.0),),
                ("Lochee", "Broughty Ferry", "Douglas", "Whitfield", "Hilltown", "Menzieshill", "Fintry",
                 "Ardler"), numbered_clusters="Dundee"),
    HscpProfile("S37000008", 122, 0.45, "mixed", (("S12000008", 1.0),),
                ("Kilmarnock", "Cumnock", "Stewarton", "Galston", "Dalmellington", "Muirkirk")),
    HscpProfile("S37000009", 109, -0.7, "suburban", (("S12000045", 1.0),),
                ("Bearsden", "Milngavie", "Bishopbriggs", "Kirkintilloch", "Lenzie", "Milton of Campsie")),
    HscpProfile("S37000010", 107, -0.3, "mixed", (("S12000010", 1.0),),
                ("Musselburgh", "Haddington", "North Berwick", "Dunbar", "Tranent", "Prestonpans")),
    HscpProfile("S37000011", 96, -0.6, "suburban", (("S12000011", 1.0),),
                ("Barrhead", "Giffnock", "Newton Mearns", "Clarkston", "Busby", "Thornliebank")),
    HscpProfile("S37000012", 527, -0.2, "city", (("S12000036", 1.0),),
                ("Leith", "Portobello", "Craigentinny", "Gorgie", "Morningside", "Corstorphine", "Liberton",
                 "Pilton", "Gilmerton", "Southside", "Sighthill", "Currie", "South Queensferry",
                 "Newington", "Stockbridge", "Craigmillar", "Wester Hailes", "Bruntsfield")),
    HscpProfile("S37000013", 161, 0.1, "urban", (("S12000014", 1.0),),
                ("Falkirk", "Grangemouth", "Bo'ness", "Larbert", "Stenhousemuir", "Denny", "Bonnybridge",
                 "Polmont")),
    HscpProfile("S37000016", 236, -0.2, "remote", (("S12000017", 1.0),),
                ("Inverness", "Fort William", "Nairn", "Wick", "Thurso", "Dingwall", "Portree", "Aviemore",
                 "Golspie", "Ullapool", "Invergordon", "Kingussie", "Broadford", "Lochinver", "Tain")),
    HscpProfile("S37000017", 77, 0.7, "urban", (("S12000018", 1.0),),
                ("Greenock", "Port Glasgow", "Gourock", "Kilmacolm", "Inverkip")),
    HscpProfile("S37000018", 94, 0.0, "urban", (("S12000019", 1.0),),
                ("Dalkeith", "Penicuik", "Bonnyrigg", "Loanhead", "Gorebridge", "Mayfield")),
    HscpProfile("S37000019", 96, -0.25, "rural", (("S12000020", 1.0),),
                ("Elgin", "Forres", "Buckie", "Keith", "Lossiemouth", "Aberlour", "Dufftown")),
    HscpProfile("S37000020", 134, 0.5, "mixed", (("S12000021", 1.0),),
                ("Irvine", "Kilwinning", "Saltcoats", "Largs", "Dalry", "Beith", "Brodick")),
    HscpProfile("S37000022", 22, -0.6, "island", (("S12000023", 1.0),),
                ("Kirkwall", "Stromness", "Dounby", "Stronsay", "Sanday", "Hoy")),
    HscpProfile("S37000024", 180, 0.2, "suburban", (("S12000038", 1.0),),
                ("Paisley", "Renfrew", "Johnstone", "Erskine", "Linwood", "Bishopton", "Lochwinnoch")),
    HscpProfile("S37000025", 116, -0.2, "rural", (("S12000026", 1.0),),
                ("Galashiels", "Hawick", "Peebles", "Kelso", "Selkirk", "Jedburgh", "Duns", "Eyemouth")),
    HscpProfile("S37000026", 23, -0.7, "island", (("S12000027", 1.0),),
                ("Lerwick", "Scalloway", "Brae", "Yell", "Unst", "Whalsay")),
    HscpProfile("S37000027", 112, 0.05, "mixed", (("S12000028", 1.0),),
                ("Ayr", "Prestwick", "Troon", "Girvan", "Maybole", "Ballantrae")),
    HscpProfile("S37000028", 321, 0.15, "suburban", (("S12000029", 1.0),),
                ("Hamilton", "East Kilbride", "Rutherglen", "Cambuslang", "Blantyre", "Lanark", "Larkhall",
                 "Carluke", "Strathaven", "Biggar", "Lesmahagow")),
    HscpProfile("S37000029", 88, 0.6, "urban", (("S12000039", 1.0),),
                ("Clydebank", "Dumbarton", "Alexandria", "Balloch", "Old Kilpatrick")),
    HscpProfile("S37000030", 184, 0.05, "urban", (("S12000040", 1.0),),
                ("Livingston", "Bathgate", "Broxburn", "Linlithgow", "Whitburn", "Armadale", "West Calder")),
    HscpProfile("S37000031", 27, -0.3, "island", (("S12000013", 1.0),),
                ("Stornoway", "Tarbert", "Balivanich", "Lochboisdale", "Castlebay", "Ness")),
    HscpProfile("S37000032", 374, 0.1, "mixed", (("S12000047", 1.0),),
                ("Kirkcaldy", "Dunfermline", "Glenrothes", "Levenmouth", "St Andrews", "Cupar", "Cowdenbeath",
                 "Lochgelly", "Burntisland", "Inverkeithing", "Anstruther", "Leslie")),
    HscpProfile("S37000033", 152, -0.4, "rural", (("S12000048", 1.0),),
                ("Perth", "Crieff", "Blairgowrie", "Pitlochry", "Aberfeldy", "Kinross", "Auchterarder",
                 "Coupar Angus")),
    HscpProfile("S37000034", 636, 0.9, "city", (("S12000049", 1.0),),
                ("Springburn", "Parkhead", "Possilpark", "Maryhill", "Partick", "Drumchapel", "Govan",
                 "Pollok", "Castlemilk", "Shawlands", "Govanhill", "Easterhouse", "Bridgeton", "Dennistoun",
                 "Knightswood", "Yoker", "Cardonald", "Gorbals", "Hyndland", "Baillieston"),
                numbered_clusters="Glasgow"),
    HscpProfile("S37000035", 341, 0.45, "suburban", (("S12000050", 1.0),),
                ("Airdrie", "Coatbridge", "Motherwell", "Wishaw", "Bellshill", "Cumbernauld", "Kilsyth",
                 "Shotts", "Chryston", "Newmains")),
)

STREETS: tuple[str, ...] = (
    "High Street", "Church Street", "Main Street", "Station Road", "Victoria Road", "King Street",
    "Queen Street", "Park Road", "Mill Road", "Bridge Street", "Burnside Road", "West End",
    "Castle Street", "Albert Street", "Union Street", "Springfield Road", "Market Street", "Hope Street",
)
