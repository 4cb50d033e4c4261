#!/usr/bin/python3
"""Counts test cases from the GoogleTest XML of every Bazel test target.

Usage: tools/test_summary.py TARGET...   (labels such as //tests/proto:roundtrip_test)

Reads bazel-testlogs/<package>/<name>/test.xml for each target. A target with
no XML (it failed to build, or crashed before writing it) counts as one failed
case, named. Prints failing and skipped cases, then one last line:
    N passed, M failed[, K skipped]
Exit code 1 when M > 0.
"""
import os
import sys
import xml.etree.ElementTree as ET


def xml_path(label):
    package, _, name = label.lstrip("/").partition(":")
    return os.path.join("bazel-testlogs", package, name, "test.xml")


def main(labels):
    passed, failed, skipped = 0, [], []
    for label in labels:
        path = xml_path(label)
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            failed.append(f"{label} (no test results: {e.__class__.__name__})")
            continue
        for case in root.iter("testcase"):
            name = f"{label} {case.get('classname', '')}.{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed.append(name)
            elif case.get("result") == "skipped" or case.get("status") == "notrun" \
                    or case.find("skipped") is not None:
                skipped.append(name)
            else:
                passed += 1
    for name in skipped:
        print(f"SKIPPED {name}")
    for name in failed:
        print(f"FAILED  {name}")
    line = f"{passed} passed, {len(failed)} failed"
    if skipped:
        line += f", {len(skipped)} skipped"
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
