# The two commands of the README, and the steps they are made of.
#   make demo   install what is needed, build, build the all-in-one image, boot it
#   make test   install what is needed, build, run every test (unit, cluster, image), then the
#               unit tier again under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/,
#               clang, libFuzzer fuzz targets)
BUILD ?= build
ASAN_BUILD ?= build-asan
# Seconds each fuzz target runs in the unit tier: the GCC build's mutation driver, the ASan
# build's libFuzzer (7 targets each).
FUZZ_SECONDS ?= 5
ASAN_FUZZ_SECONDS ?= 12
OUT ?= out
JOBS ?= $(shell nproc)

.PHONY: setup build asan demo test unit unit-asan cluster image bench clean
setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja -DMI_FUZZ_SECONDS=$(FUZZ_SECONDS)
	cmake --build $(BUILD) -j $(JOBS)

# The unit tier's build with -DMI_SANITIZE=ON, by clang (so the fuzz targets are libFuzzer's).
asan: setup
	CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DMI_SANITIZE=ON -DMI_FUZZ_SECONDS=$(ASAN_FUZZ_SECONDS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)

demo: build
	$(BUILD)/builder/mibuild build -r all-in-one -f qcow2 -o $(OUT)
	$(BUILD)/builder/mibuild boot $(OUT)/mi-all-in-one.qcow2 --check

test: build asan
	cd $(BUILD) && ctest --output-on-failure --timeout 2400
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit --timeout 600

unit-asan: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -L unit

unit cluster image: build
	cd $(BUILD) && ctest --output-on-failure -L $@

bench: build
	bash tests/bench/build_vs_mkosi.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(OUT)
