"""frontend/tests/http-headers.json, the header table the page's responses share with the frontend's own
tests, checked against one response (the frontend nginx serves the cases directly, the proxy in front of it)."""
import gzip


def check_case(resp, case, table, image):
    """One case of the shared header table; returns nothing, asserts everything the case says. Bodies are
    compared with the frontend image's files."""
    for name, value in table["every_response"].items():
        assert resp.all(name) == [value], f"{case['path']}: {name} is {resp.all(name)}"
    assert resp.status == case["status"], resp
    for name, value in case.get("headers", {}).items():
        assert resp.all(name) == [value], f"{case['path']}: {name} is {resp.all(name)}, expected {value}"
    for name, value in case.get("contains", {}).items():
        assert value in (resp.get(name) or ""), f"{case['path']}: {name} lacks {value}"
    for name, value in case.get("absent_or_not_containing", {}).items():
        assert value not in (resp.get(name) or ""), f"{case['path']}: {name} contains {value}"
    if "same_bytes_as" in case:
        body = gzip.decompress(resp.body) if resp.get("Content-Encoding") == "gzip" else resp.body
        assert body == image.read(case["same_bytes_as"].replace("{version}", image.version)), \
            f"{case['path']}: body differs from the image's file"
