"""The office directory: routing by region, the SAMPLE directory, importing a CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.business import offices
from bot.business.identity import Sellers
from bot.cli import app as cli

runner = CliRunner()


def test_the_most_specific_office_handles_a_region() -> None:
    directory = offices.load()
    assert directory.sample
    nanshan = directory.route("440305")
    assert nanshan is not None and nanshan.key == "sz-nanshan"
    futian = directory.route("440304")  # no county office in the sample: the city's
    assert futian is not None and futian.key == "sz"
    assert directory.route("450103") is None  # nobody covers Nanning: staff route it
    assert directory.route(None) is None


def test_the_jurisdiction_rules_cite_their_source() -> None:
    rules = offices.load().jurisdiction
    assert "Order 121" in rules["complaint"]["source"]
    assert "UNCONFIRMED" in rules["complaint"]["source"]
    assert "conduct" in rules["report"]["rule"]


def test_a_complaint_goes_where_the_seller_is_registered_a_report_where_it_sells() -> None:
    sellers = Sellers()
    fields = {
        "licence": "91440305MA0XMPL012",  # registered in Shenzhen Nanshan
        "merchant": "优品服饰",
        "merchant_address": "浙江省杭州市西湖区文三路259号",  # sells from Hangzhou
        "target_name": "优品服饰",
        "target_location": "浙江省杭州市西湖区文三路259号",
    }
    complaint = sellers.identify("complaint", fields)
    assert complaint.region is not None and complaint.region.code == "440305"
    assert complaint.office is not None and complaint.office.key == "sz-nanshan"
    report = sellers.identify("report", fields)
    assert report.region is not None and report.region.code == "330106"
    assert report.office is not None and report.office.key == "hz-xihu"


def test_an_unknown_region_has_no_office_and_nothing_is_guessed() -> None:
    seller = Sellers().identify(
        "complaint", {"merchant": "华为专卖店", "merchant_address": "朝阳区"}
    )
    assert seller.region is None and seller.office is None
    assert seller.as_dict()["region"] is None


def test_csv_import_writes_a_directory_and_reports_bad_rows(tmp_path: Path) -> None:
    good = tmp_path / "offices.csv"
    good.write_bytes(
        "key,name,regions,phone,handoff_url\n"
        "nn-qingxiu,南宁市青秀区市场监督管理局,450103,0771-1,https://nn.example/handoff\n"
        "nn,南宁市市场监督管理局,4501,0771-0,\n".encode("gbk")
    )
    out = tmp_path / "directory.yml"
    result = runner.invoke(cli, ["offices", "import", str(good), "--out", str(out)])
    assert result.exit_code == 0, result.output
    directory = offices.load(out)
    assert not directory.sample
    qingxiu = directory.route("450103")
    assert qingxiu is not None and qingxiu.handoff_url == "https://nn.example/handoff"
    assert directory.route("450102") == directory.get("nn")
    assert "Order 121" in directory.jurisdiction["complaint"]["source"]

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "key,name,regions\nok,某局,4501\nBad Key,某局,4501\nx,某局,45010\nok,又一个,4502\n",
        encoding="utf-8",
    )
    target = tmp_path / "bad.yml"
    result = runner.invoke(cli, ["offices", "import", str(bad), "--out", str(target)])
    assert result.exit_code == 2
    for line in ("line 3", "line 4", "line 5"):
        assert line in result.output
    assert not target.exists()


@pytest.mark.parametrize("header", ["name,regions\n", ""])
def test_a_csv_without_the_needed_columns_is_refused(tmp_path: Path, header: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text(header, encoding="utf-8")
    result = runner.invoke(cli, ["offices", "import", str(path), "--out", str(tmp_path / "o.yml")])
    assert result.exit_code == 1 and "missing column" in result.output


def _secret(office: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["offices", "secret", office], env=env)
    return result.exit_code, result.stdout.strip(), result.stderr


def test_each_office_has_its_own_hand_off_secret() -> None:
    """What one office is given signs nothing for another: the secrets differ by office and
    by the service's secret they derive from, and none is that secret itself."""
    code, xihu, note = _secret("hz-xihu", WEIQUAN_BACKOFFICE_SECRET="central-one")
    assert code == 0 and len(xihu) == 64
    # The SAMPLE directory gives no office a URL: the operator is told it receives nothing yet.
    assert "hz-xihu has no handoff_url" in note
    assert _secret("hz-xihu", WEIQUAN_BACKOFFICE_SECRET="central-one")[1] == xihu
    assert _secret("sz-nanshan", WEIQUAN_BACKOFFICE_SECRET="central-one")[1] != xihu
    assert _secret("hz-xihu", WEIQUAN_BACKOFFICE_SECRET="central-two")[1] != xihu
    assert "central-one" not in xihu
    # No back-office secret: derived from the service's secret key instead.
    keyed = _secret("hz-xihu", WEIQUAN_BACKOFFICE_SECRET="", WEIQUAN_SECRET_KEY="k" * 32)[1]
    assert keyed not in ("", xihu)
    assert keyed != _secret("hz-xihu", WEIQUAN_BACKOFFICE_SECRET="", WEIQUAN_SECRET_KEY="j" * 32)[1]


def test_an_unknown_office_has_no_secret() -> None:
    code, out, note = _secret("nowhere")
    assert code == 1 and out == ""
    assert "no office 'nowhere' in the directory" in note
