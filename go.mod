module github.com/demt-web/demt

go 1.26

require (
	github.com/gogpu/gputypes v0.8.0
	github.com/gogpu/naga v0.19.0
	github.com/gogpu/wgpu v0.34.5
	github.com/klauspost/compress v1.18.5
)
