# Browser tests of the web dashboard (headless chromium + chromedriver from Debian).
#   make test-browser      screenshots land in $(BUILD)/browser/
.PHONY: test-browser
test-browser: $(BUILD)/healops-server
	python3 tests/browser/run.py --build $(BUILD)
