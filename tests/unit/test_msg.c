#include "check.h"
int main(void)
{
	CHECK(0); /* placeholder: test not written yet */
	return check_done("test_msg");
}
