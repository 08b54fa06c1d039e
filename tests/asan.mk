# The sanitized test programs run with address-space randomization off where setarch may turn
# it off: GCC 12's AddressSanitizer can crash at start-up, at random, on kernels that randomize
# mmap with 32 bits (vm.mmap_rnd_bits), as some CI machines do.
NO_ASLR := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)
