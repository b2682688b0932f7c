module intentd/clients/go

// The versions Debian 12 packages (golang-google-grpc-dev, golang-google-protobuf-dev), the
// oldest this client is built and tested with; newer releases work too.
go 1.19

require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
