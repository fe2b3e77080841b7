module github.com/townhall-dev/townhall/bench

go 1.26

replace github.com/townhall-dev/townhall => ../
