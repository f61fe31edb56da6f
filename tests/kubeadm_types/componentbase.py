"""Types from k8s.io/component-base that the kubelet and kube-proxy configs embed.

Upstream (kubernetes/kubernetes, staging/src/k8s.io/component-base/...):
  - config/v1alpha1/types.go  ClientConnectionConfiguration   read at commit f0032816cae31e46af116d0e13e6151cac8eb638
  - tracing/api/v1/types.go   TracingConfiguration            read at commit 4a0608cb77f6a53af41cb4a453af104a4d4a0610
  - logs/api/v1/types.go      LoggingConfiguration            read at commit 791358f272316602fa9773708f5a442164414bc6
    (that stored copy is an older one with flushFrequency as time.Duration and only
    options.json; current releases use TimeOrMetaDuration -- a duration string *or*
    integer nanoseconds -- and add options.text.  Both forms are accepted here.)
"""

from .shapes import BOOL, DURATION_OR_NANOS, FLOAT, INT32, QUANTITY, STRING, UINT32, Enum, ListOf, Struct, required

ClientConnectionConfiguration = Struct(
    "ClientConnectionConfiguration",
    {
        "kubeconfig": STRING,
        "acceptContentTypes": STRING,
        "contentType": STRING,
        "qps": FLOAT,  # float32
        "burst": INT32,
    },
)

TracingConfiguration = Struct(
    "TracingConfiguration",
    {
        "endpoint": STRING,
        "samplingRatePerMillion": INT32,
    },
)

# OutputRoutingOptions, inlined into both TextOptions and JSONOptions.
_OutputRouting = {"splitStream": BOOL, "infoBufferSize": QUANTITY}

FormatOptions = Struct(
    "FormatOptions",
    {
        "text": Struct("TextOptions", _OutputRouting),
        "json": Struct("JSONOptions", _OutputRouting),
    },
)

VModuleItem = Struct("VModuleItem", {"filePattern": required(STRING), "verbosity": UINT32})

LoggingConfiguration = Struct(
    "LoggingConfiguration",
    {
        # Registered formats are "text" (default) and "json".
        "format": Enum("text", "json"),
        "flushFrequency": DURATION_OR_NANOS,
        "verbosity": UINT32,
        "vmodule": ListOf(VModuleItem),
        "options": FormatOptions,
    },
)
