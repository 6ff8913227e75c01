package gpu

import (
	"os"
	"sync"
	"testing"
)

var (
	testDevOnce sync.Once
	testDev     *Device
	testDevErr  error
)

// testDevice opens one device for the package's tests (CPU adapters allowed). Without an
// adapter the test fails: GPU tests are never skipped (Mesa lavapipe provides one anywhere).
func testDevice(t testing.TB) *Device {
	t.Helper()
	testDevOnce.Do(func() {
		testDev, testDevErr = Open(DeviceOptions{AllowCPUAdapter: true})
	})
	if testDevErr != nil {
		t.Fatalf("no usable GPU adapter (apt-get install mesa-vulkan-drivers libvulkan1 gives Mesa lavapipe): %v", testDevErr)
	}
	return testDev
}

func TestMain(m *testing.M) {
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir()) // silences a harmless Mesa warning
	}
	code := m.Run()
	if testDev != nil {
		testDev.Close()
	}
	os.Exit(code)
}

func TestOpen(t *testing.T) {
	d := testDevice(t)
	t.Logf("device: %s", d.Info())
}

// TestOpenAutoOnlyHardware: without AllowCPUAdapter (--device auto), Open refuses a
// CPU-type adapter (lavapipe, SwiftShader) and accepts a hardware GPU.
func TestOpenAutoOnlyHardware(t *testing.T) {
	d := testDevice(t)
	d2, err := Open(DeviceOptions{})
	if isCPUAdapter(d.info) {
		if err == nil {
			d2.Close()
			t.Fatalf("Open accepted CPU adapter %s without AllowCPUAdapter", d.Info())
		}
		return
	}
	if err != nil {
		t.Fatalf("Open refused hardware GPU %s: %v", d.Info(), err)
	}
	d2.Close()
}
