"""Regenerate the bundled example 835 files (all fictional: names, ids and amounts are made up).

    python examples/generate.py

The files are committed; this script documents how they were made and keeps them balanced.
"""

from __future__ import annotations

from pathlib import Path

from denialkit.synthetic import Adj, ClaimSpec, D, LineSpec, PLBSpec, RemitSpec, build_835

HERE = Path(__file__).parent


def medicare_part_b() -> RemitSpec:
    return RemitSpec(
        payer_name="MEDICARE PART B EXAMPLE MAC",
        payer_id="01112",
        trace="880012345",
        payment_date="20261103",
        production_date="20261030",
        claims=[
            ClaimSpec(
                "MB-24001",
                "1",
                filing_indicator="MB",
                payer_claim_id="2226304123450",
                patient=("RIVERA", "ANA", "1EG4TE5MK72"),
                lines=[
                    LineSpec(
                        "99214",
                        D("180.00"),
                        allowed=D("130.44"),
                        line_control="L1",
                        adjustments=[
                            Adj("CO", "45", D("49.56")),
                            Adj("PR", "2", D("26.09")),
                            Adj("CO", "253", D("2.09")),
                        ],
                    ),
                    LineSpec(
                        "93000",
                        D("60.00"),
                        allowed=D("16.97"),
                        line_control="L2",
                        adjustments=[
                            Adj("CO", "45", D("43.03")),
                            Adj("PR", "2", D("3.39")),
                            Adj("CO", "253", D("0.27")),
                        ],
                    ),
                ],
            ),
            ClaimSpec(
                "MB-24002",
                "1",
                filing_indicator="MB",
                payer_claim_id="2226304123451",
                patient=("CHEN", "WEI", "2FH5UF6NL83"),
                lines=[
                    LineSpec(
                        "97110",
                        D("95.00"),
                        modifiers=("GP",),
                        line_control="L1",
                        units="2",
                        adjustments=[Adj("CO", "50", D("95.00"))],
                        remarks=("N115",),
                    ),
                    LineSpec(
                        "97140",
                        D("85.00"),
                        modifiers=("GP",),
                        line_control="L2",
                        allowed=D("28.95"),
                        adjustments=[
                            Adj("CO", "45", D("56.05")),
                            Adj("PR", "2", D("5.79")),
                            Adj("CO", "253", D("0.46")),
                        ],
                    ),
                ],
            ),
            ClaimSpec(
                "MB-24003",
                "1",
                filing_indicator="MB",
                payer_claim_id="2226304123452",
                patient=("OKAFOR", "JAMES", "3GJ6VG7PM94"),
                remarks=("MA130",),
                lines=[
                    LineSpec(
                        "36415",
                        D("25.00"),
                        line_control="L1",
                        adjustments=[Adj("CO", "16", D("25.00"))],
                        remarks=("M51",),
                    )
                ],
            ),
            ClaimSpec(
                "MB-24004",
                "1",
                filing_indicator="MB",
                payer_claim_id="2226304123453",
                patient=("LARSEN", "INGRID", "4HK7WH8QN05"),
                lines=[
                    LineSpec(
                        "99213",
                        D("140.00"),
                        allowed=D("92.11"),
                        line_control="L1",
                        modifiers=("25",),
                        adjustments=[
                            Adj("CO", "45", D("47.89")),
                            Adj("PR", "2", D("18.42")),
                            Adj("CO", "253", D("1.47")),
                        ],
                    ),
                    LineSpec(
                        "11102",
                        D("150.00"),
                        line_control="L2",
                        adjustments=[Adj("CO", "97", D("150.00"))],
                        remarks=("M15",),
                    ),
                ],
            ),
        ],
    )


def commercial_denials() -> RemitSpec:
    return RemitSpec(
        payer_name="BLUESTONE COMMERCIAL HEALTH",
        payer_id="BSH01",
        trace="EFT20261104A",
        payment_date="20261104",
        production_date="20261102",
        claims=[
            ClaimSpec(
                "CM-5101",
                "1",
                payer_claim_id="BS26110200001",
                patient=("NGUYEN", "LINH", "BSW880011201"),
                lines=[
                    LineSpec(
                        "70553",
                        D("2400.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "197", D("2400.00"))],
                        remarks=("N54",),
                    )
                ],
            ),
            ClaimSpec(
                "CM-5102",
                "1",
                payer_claim_id="BS26110200002",
                patient=("PATEL", "RAVI", "BSW880011202"),
                lines=[
                    LineSpec(
                        "20610",
                        D("310.00"),
                        modifiers=("RT",),
                        line_control="1",
                        adjustments=[Adj("CO", "4", D("310.00"))],
                        remarks=("N519",),
                    ),
                    LineSpec(
                        "99213",
                        D("150.00"),
                        line_control="2",
                        allowed=D("98.00"),
                        adjustments=[Adj("CO", "45", D("52.00")), Adj("PR", "3", D("30.00"))],
                    ),
                ],
            ),
            ClaimSpec(
                "CM-5103",
                "4",
                payer_claim_id="BS26110200003",
                patient=("GARCIA", "SOFIA", "BSW880011203"),
                lines=[
                    LineSpec(
                        "81001",
                        D("45.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "29", D("45.00"))],
                    ),
                    LineSpec(
                        "85025",
                        D("65.00"),
                        line_control="2",
                        adjustments=[Adj("CO", "29", D("65.00"))],
                    ),
                ],
            ),
            ClaimSpec(
                "CM-5104",
                "1",
                payer_claim_id="BS26110200004",
                patient=("BROWN", "MICHAEL", "BSW880011204"),
                lines=[
                    LineSpec(
                        "99395",
                        D("275.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "11", D("275.00"))],
                        remarks=("M76",),
                    )
                ],
            ),
            ClaimSpec(
                "CM-5105",
                "1",
                payer_claim_id="BS26110200005",
                patient=("SMITH", "OLIVIA", "BSW880011205"),
                lines=[
                    LineSpec(
                        "J1885",
                        D("80.00"),
                        units="4",
                        line_control="1",
                        adjustments=[Adj("PR", "96", D("80.00"))],
                        remarks=("N130",),
                    ),
                    LineSpec(
                        "96372",
                        D("40.00"),
                        line_control="2",
                        adjustments=[Adj("CO", "18", D("40.00"))],
                    ),
                ],
            ),
            ClaimSpec(
                "CM-5106",
                "1",
                payer_claim_id="BS26110200006",
                patient=("JOHNSON", "EMMA", "BSW880011206"),
                lines=[
                    LineSpec(
                        "99204",
                        D("320.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "27", D("320.00"))],
                    )
                ],
            ),
            ClaimSpec(
                "CM-5107",
                "1",
                payer_claim_id="BS26110200007",
                patient=("WILSON", "NOAH", "BSW880011207"),
                lines=[
                    LineSpec(
                        "99214",
                        D("210.00"),
                        line_control="1",
                        allowed=D("140.00"),
                        adjustments=[Adj("CO", "45", D("70.00")), Adj("PR", "1", D("140.00"))],
                    )
                ],
            ),
        ],
    )


def reversal_correction() -> RemitSpec:
    # The payer reverses its earlier denial of CM-5101 (auth found on file) and pays it.
    return RemitSpec(
        payer_name="BLUESTONE COMMERCIAL HEALTH",
        payer_id="BSH01",
        trace="EFT20261120B",
        payment_date="20261120",
        production_date="20261118",
        claims=[
            ClaimSpec(
                "CM-5101",
                "22",
                payer_claim_id="BS26110200001",
                patient=("NGUYEN", "LINH", "BSW880011201"),
                charge=D("-2400.00"),
                lines=[
                    LineSpec(
                        "70553",
                        D("-2400.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "197", D("-2400.00"))],
                    )
                ],
            ),
            ClaimSpec(
                "CM-5101",
                "1",
                payer_claim_id="BS26111800011",
                patient=("NGUYEN", "LINH", "BSW880011201"),
                lines=[
                    LineSpec(
                        "70553",
                        D("2400.00"),
                        line_control="1",
                        allowed=D("1450.00"),
                        adjustments=[Adj("CO", "45", D("950.00")), Adj("PR", "3", D("50.00"))],
                    )
                ],
            ),
        ],
    )


def plb_recoupments() -> RemitSpec:
    return RemitSpec(
        payer_name="MERIDIAN STATE MEDICAID",
        payer_id="MSM77",
        trace="CHK0099821",
        payment_date="20261110",
        production_date="20261109",
        method="CHK",
        claims=[
            ClaimSpec(
                "MD-7001",
                "1",
                filing_indicator="MC",
                payer_claim_id="MSM2611090001",
                patient=("ADAMS", "GRACE", "MSM55501"),
                lines=[
                    LineSpec(
                        "99392",
                        D("165.00"),
                        allowed=D("98.40"),
                        line_control="1",
                        adjustments=[Adj("CO", "45", D("66.60"))],
                    )
                ],
            ),
            ClaimSpec(
                "MD-7002",
                "1",
                filing_indicator="MC",
                payer_claim_id="MSM2611090002",
                patient=("BAKER", "LUCAS", "MSM55502"),
                lines=[
                    LineSpec(
                        "90460",
                        D("40.00"),
                        allowed=D("21.00"),
                        line_control="1",
                        adjustments=[Adj("CO", "45", D("19.00"))],
                    ),
                    LineSpec(
                        "90707",
                        D("95.00"),
                        line_control="2",
                        adjustments=[Adj("CO", "B7", D("95.00"))],
                    ),
                ],
            ),
        ],
        plb=[
            PLBSpec("WO", D("112.50"), "MSM2609150044"),
            PLBSpec("L6", D("-3.17"), "MSM2611090001"),
            PLBSpec("FB", D("25.00"), "PRIOR-BAL-0926"),
        ],
    )


def main() -> None:
    files = {
        "medicare-part-b.835": medicare_part_b(),
        "commercial-denials.835": commercial_denials(),
        "reversal-correction.835": reversal_correction(),
        "plb-recoupments.835": plb_recoupments(),
    }
    for name, spec in files.items():
        (HERE / name).write_text(build_835(spec))
        print(f"wrote examples/{name}")


if __name__ == "__main__":
    main()
