# The two commands of the README, and the steps they are made of.
#   make demo   install what is needed, build, build the all-in-one image, boot it
#   make test   install what is needed, build, run every test (unit, cluster, image)
BUILD ?= build
OUT ?= out
JOBS ?= $(shell nproc)

.PHONY: setup build demo test unit cluster image bench clean
setup:
	bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -G Ninja
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/builder/mibuild build -r all-in-one -f qcow2 -o $(OUT)
	$(BUILD)/builder/mibuild boot $(OUT)/mi-all-in-one.qcow2 --check

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 2400

unit cluster image: build
	cd $(BUILD) && ctest --output-on-failure -L $@

bench: build
	bash tests/bench/build_vs_mkosi.sh

clean:
	rm -rf $(BUILD) $(OUT)
