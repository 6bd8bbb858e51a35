# vncenv: `make test` and `make demo` install what they need on Debian 12 (as root).

PYTHON ?= python3
export PIP_ROOT_USER_ACTION := ignore
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export DEBIAN_FRONTEND := noninteractive

# System packages: the compiler's inputs (zlib, ISA-L, TurboJPEG), the VNC
# servers the tests run against, and the X tools the test scenes use.
APT_PACKAGES := gcc make cmake pkg-config zlib1g-dev libisal-dev libturbojpeg0-dev \
	tigervnc-standalone-server tigervnc-tools x11vnc xvfb \
	x11-utils x11-xserver-utils x11-apps xdotool xauth xfonts-base \
	docker.io debootstrap

.PHONY: deps zlib-ng install build test test-core test-reference demo clean asan fuzz adversity bench bench-deps

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# zlib-ng, the core's inflater, is built from the source in its PyPI sdist
# into third_party/ (see bench/RESULTS.md for why zlib-ng).
zlib-ng: deps
	PYTHON=$(PYTHON) ./scripts/build-zlib-ng.sh

# torch==2.13.0 first: pip takes the CPU build on disk for it, and SB3 (a test
# dependency) then pulls no CUDA packages.
install: deps zlib-ng
	@mkdir -p build
	@echo "pip: torch==2.13.0 (CPU), then vncenv[test,demo] (log: build/pip.log)"
	@$(PYTHON) -m pip install -q torch==2.13.0 >build/pip.log 2>&1 || { cat build/pip.log; exit 1; }
	@$(PYTHON) -m pip install -q -e '.[test,demo]' >>build/pip.log 2>&1 || { cat build/pip.log; exit 1; }
	$(PYTHON) -c "import vncenv._core" || { echo "the vncenv core did not build"; exit 1; }

# Rebuild the extension in place after editing src/vnccore/.
build:
	$(PYTHON) setup.py -q build_ext --inplace

test: install
	$(MAKE) test-core
	$(MAKE) test-reference

# The whole suite against the compiled core ...
test-core:
	$(PYTHON) -m pytest -q -p no:cacheprovider

# ... and once more, every test whose client decodes, against the pure-Python
# reference decoder.  (The decoder tests themselves already run both backends
# side by side; the rewarder and Docker tests do not decode.)
REFERENCE_TESTS := tests/test_protocol.py tests/test_session.py tests/test_capture.py \
	tests/test_fbs.py tests/test_runtime.py tests/test_package.py
test-reference:
	VNCENV_DECODER=python $(PYTHON) -m pytest -q -p no:cacheprovider -m "not core_only" $(REFERENCE_TESTS)

demo: install
	$(PYTHON) -m vncenv.demo $(ARGS)

clean:
	rm -rf build dist *.egg-info python/*.egg-info python/vncenv/*.so src/vnccore/*.c src/vnccore/*.html

# The decoder tests once more on an AddressSanitizer build of the core, made
# in build/asan from the committed sources.  (pycryptodome's DES cannot load
# under ASan -- it dlopens with RTLD_DEEPBIND -- so the RFB auth tests stay out.)
ASAN_TESTS := tests/test_decode.py tests/test_malformed.py tests/test_differential.py \
	tests/test_core.py tests/test_fuzz_target.py
asan: install
	rm -rf build/asan && mkdir -p build/asan
	git ls-files -z | xargs -0 tar -c | tar -x -C build/asan
	cd build/asan && VNCENV_ASAN=1 $(PYTHON) setup.py -q build_ext --inplace
	cd build/asan && ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
		PYTHONPATH=python $(PYTHON) -m pytest -q -p no:cacheprovider $(ASAN_TESTS)

# The fuzz campaign (tests/fuzz/README.md): every atheris target for RUNS
# executions (default here 100000; `make adversity` runs 10^6 a target).
fuzz: install
	RUNS=$${RUNS:-100000} sh tests/fuzz/campaign.sh

# Issue 8 in full: the adversity tests (they also run in `make test`), the
# decoder tests on an AddressSanitizer build, and the fuzz campaign of 10^6
# executions a target with the corpora replayed through the ASan build after.
adversity: install
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/adversity
	$(MAKE) asan
	RUNS=$${RUNS:-1000000} ASAN_REPLAY=1 sh tests/fuzz/campaign.sh

# The benchmark of issue 3 (not part of `make test`): records the corpus into
# bench/corpus/ if missing, replays it to vncenv, libvncclient and vncdotool,
# measures the limits and the scaling, and writes bench/RESULTS.md and
# bench/results.json.  BENCH_ARGS=--quick for one repetition.  It needs the
# package installed (`make install`, done here only if vncenv is missing).
BENCH_APT_PACKAGES := libvncserver-dev xterm cmake util-linux
BENCH_PIP_PACKAGES := vncdotool gymnasium ale-py python-xlib
bench-deps: deps
	@missing=""; for p in $(BENCH_APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(PYTHON) -c "import vncenv._core" 2>/dev/null || $(MAKE) install
	$(PYTHON) -m pip install -q $(BENCH_PIP_PACKAGES)

bench: bench-deps
	$(PYTHON) bench/run.py $(BENCH_ARGS)
