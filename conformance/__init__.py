"""The gscodec bitstream conformance suite: streams with expected results, a generator and a runner.

    python -m conformance                      check every stream (make conformance)
    python -m conformance.generate --check     rebuild into a temporary folder and compare

Layout, hash definitions and the md5 file format: conformance/README.md.
"""
